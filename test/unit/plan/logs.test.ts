import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import type { AllocationStub } from "../../../src/nomad/types.js";
import {
  LineSplitter,
  lineTime,
  parseSince,
  pickAllocations,
  SinceFilter,
} from "../../../src/plan/logs.js";
import { captureOutput } from "../../support/capture-output.js";

const stub = (id: string, o: Partial<AllocationStub> = {}): AllocationStub => ({
  ID: id,
  Name: "elm-lang.org.web[0]",
  NodeID: `node-${id}`,
  NodeName: `w-${id.slice(0, 2)}`,
  JobVersion: 1,
  TaskGroup: "web",
  ClientStatus: "running",
  DesiredStatus: "run",
  CreateIndex: 10,
  ModifyIndex: 10,
  ...o,
});

describe("pickAllocations", () => {
  const stubs = [
    stub("bb222222-0000", { CreateIndex: 20 }),
    stub("aa111111-0000", { CreateIndex: 10 }),
    stub("cc333333-0000", { ClientStatus: "complete", DesiredStatus: "stop" }),
    stub("dd444444-0000", { ClientStatus: "running", DesiredStatus: "stop" }),
    stub("ee555555-0000", { ClientStatus: "pending" }),
  ];

  it("the running ones the servers still want, oldest first, with their node", () => {
    expect(pickAllocations("elm-lang.org", stubs)).toEqual([
      { id: "aa111111-0000", node: "w-aa" },
      { id: "bb222222-0000", node: "w-bb" },
    ]);
  });

  it("--alloc: the one its ID starts with", () => {
    expect(pickAllocations("elm-lang.org", stubs, "bb2")).toEqual([
      { id: "bb222222-0000", node: "w-bb" },
    ]);
  });

  it("a prefix that matches no running one is refused (exit 2), naming the running ones", () => {
    const refuse = () => pickAllocations("elm-lang.org", stubs, "cc3");
    expect(refuse).toThrow(UsageError);
    expect(refuse).toThrow('no running allocation of elm-lang.org has an ID starting with "cc3"');
    try {
      refuse();
    } catch (error) {
      expect((error as UsageError).hint).toBe("running: aa111111 on w-aa, bb222222 on w-bb");
    }
  });

  it("a node without a name is named by its ID's first 8 characters", () => {
    expect(
      pickAllocations("s", [stub("ff", { NodeName: undefined, NodeID: "0123456789ab" })]),
    ).toEqual([{ id: "ff", node: "01234567" }]);
  });
});

describe("LineSplitter", () => {
  it("passes a line on when its newline comes; a character split between chunks stays whole", () => {
    const s = new LineSplitter();
    const e = Buffer.from("é");
    expect(s.push(Buffer.from("one\ntw"))).toEqual(["one"]);
    expect(s.push(Buffer.concat([Buffer.from("o "), e.subarray(0, 1)]))).toEqual([]);
    expect(s.push(Buffer.concat([e.subarray(1), Buffer.from("\r\nthree")]))).toEqual(["two é"]);
    expect(s.end()).toEqual(["three"]);
    expect(s.end()).toEqual([]);
  });

  it("empty lines are lines", () => {
    expect(new LineSplitter().push(Buffer.from("\n\nx\n"))).toEqual(["", "", "x"]);
  });
});

describe("--since", () => {
  it.each([
    ["30s", 30_000],
    ["10m", 600_000],
    ["2h", 7_200_000],
  ])("%s is %i ms", (value, ms) => {
    expect(parseSince(value)).toBe(ms);
  });

  it.each(["10", "10x", "-5m", "1d", "", "1.5h"])("%j is refused (exit 2)", (value) => {
    expect(() => parseSince(value)).toThrow(UsageError);
  });

  it.each([
    ["2026-05-01T12:00:00Z GET /", Date.UTC(2026, 4, 1, 12)],
    ["2026-05-01 12:00:00.250+02:00 started", Date.UTC(2026, 4, 1, 10, 0, 0, 250)],
    ["[2026-05-01T12:00:00+0200] x", Date.UTC(2026, 4, 1, 10)],
    ["2026-05-01T12:00:00 no zone: UTC", Date.UTC(2026, 4, 1, 12)],
    ["[01/May/2026:12:00:00 +0000] GET /", Date.UTC(2026, 4, 1, 12)],
    ['10.0.0.1 "GET / HTTP/1.1" 200 -', undefined],
    ["at 2026-05-01T12:00:00Z, later in the line", undefined],
    ["[01/Foo/2026:12:00:00 +0000]", undefined],
  ])("the time %j states: %s", (line, time) => {
    expect(lineTime(line)).toBe(time);
  });

  it("skips lines that state an older time, with the untimed lines that follow them", () => {
    const from = Date.UTC(2026, 4, 1, 12);
    const f = new SinceFilter(from);
    const lines = [
      "2026-05-01T11:59:00Z old",
      "  old trace line",
      "2026-05-01T12:00:00Z new",
      "  new trace line",
    ];
    expect(lines.filter((l) => f.keep(l))).toEqual([
      "2026-05-01T12:00:00Z new",
      "  new trace line",
    ]);
    expect(f.sawTime).toBe(true);
    expect(f.untimed).toBe(0);
  });

  it("a log that states no time is shown whole, and counted so the command can say so", () => {
    const f = new SinceFilter(Date.now());
    expect(["a", "b"].filter((l) => f.keep(l))).toEqual(["a", "b"]);
    expect(f.sawTime).toBe(false);
    expect(f.untimed).toBe(2);
  });
});

describe("a line event", () => {
  const event = {
    type: "line",
    alloc: "3f2a9c1e-1111-2222-3333-444455556666",
    node: "local-worker-1",
    text: '10.0.0.1 \u001b[31m"GET / HTTP/1.1" 200 -',
  } as const;

  it("is prefixed with the allocation's short ID and node, on the stream the task wrote it to, without control sequences", () => {
    const o = captureOutput("plain");
    o.output.emit({ ...event, stream: "stdout" });
    o.output.emit({ ...event, stream: "stderr", text: "oops" });
    expect(o.stdout()).toEqual(['3f2a9c1e local-worker-1| 10.0.0.1 "GET / HTTP/1.1" 200 -']);
    expect(o.stderr()).toEqual(["3f2a9c1e local-worker-1| oops"]);
  });

  it("is one JSON object with --json, the whole allocation ID in it", () => {
    const o = captureOutput("json");
    o.output.emit({ ...event, stream: "stdout", text: "x" });
    expect(o.stdout().map((l) => JSON.parse(l) as unknown)).toEqual([
      { ...event, stream: "stdout", text: "x" },
    ]);
  });
});
