import { describe, expect, it } from "vitest";
import { parseSshAddress } from "../../../src/docker/endpoint.js";
import {
  classifyWorker,
  describeWorkers,
  incompleteShipment,
  isComplete,
  type WorkerImage,
} from "../../../src/docker/ship.js";
import { UsageError } from "../../../src/errors.js";

const id = `sha256:${"1".repeat(64)}`;
const other = `sha256:${"2".repeat(64)}`;

describe("classifyWorker", () => {
  it.each([
    [id, true, "loaded"],
    [id, false, "present"],
    [other, true, "mismatch"],
    [undefined, false, "missing"],
    [undefined, true, "missing"],
  ] as const)("worker has %s (sent: %s) → %s", (actual, sent, state) => {
    expect(classifyWorker(id, actual, sent)).toBe(state);
  });
});

describe("isComplete", () => {
  const w = (state: WorkerImage["state"]): WorkerImage => ({ worker: state, state });
  it.each([
    [[], false],
    [[w("loaded"), w("present")], true],
    [[w("loaded"), w("failed")], false],
    [[w("present"), w("mismatch")], false],
    [[w("missing")], false],
  ])("%j → %s", (workers, complete) => expect(isComplete(workers)).toBe(complete));
});

describe("a half-shipped version", () => {
  const shipment = {
    ref: "elm-lang.org:1.4.2",
    imageId: id,
    complete: false,
    workers: [
      { worker: "w1", state: "loaded", imageId: id },
      { worker: "w2", state: "mismatch", imageId: other },
      { worker: "w3", state: "failed", error: "connect ECONNREFUSED" },
    ] satisfies WorkerImage[],
  };
  it("names each worker's state", () => {
    expect(describeWorkers(shipment)).toEqual([
      "w1: loaded 111111111111",
      "w2: has 222222222222 instead of 111111111111",
      "w3: failed: connect ECONNREFUSED",
    ]);
  });
  it("becomes an error that counts the workers holding the image", () => {
    const error = incompleteShipment(shipment);
    expect(error.message.split("\n")[0]).toBe("elm-lang.org:1.4.2 is on 1 of 3 workers:");
    expect(error.hint).toMatch(/again/);
  });
});

describe("parseSshAddress", () => {
  const defaults = { username: "root", port: 22 };
  it.each([
    ["10.0.0.5", { username: "root", host: "10.0.0.5", port: 22 }],
    ["admin@worker-1.internal:2222", { username: "admin", host: "worker-1.internal", port: 2222 }],
    ["[fd00::5]:22", { username: "root", host: "fd00::5", port: 22 }],
  ])("%s", (text, address) => expect(parseSshAddress(text, defaults)).toEqual(address));
  it.each(["", "root@", "host:0", "host:70000", "a b", "root@host;rm", "-oProxyCommand=x"])(
    "refuses %j",
    (text) => {
      expect(() => parseSshAddress(text, defaults)).toThrow(UsageError);
    },
  );
});
