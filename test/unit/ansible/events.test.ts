import { describe, expect, it } from "vitest";
import { parseEventLine } from "../../../src/ansible/events.js";
import { AnsibleOutputParser } from "../../../src/ansible/output.js";

// What playbooks/callback_plugins/elm_infra_jsonl.py printed for a playbook with a loop, a no_log
// failure that is ignored, an ignored failing item, a skipped task and a failure.
const callbackOutput = `{"event": "play", "hosts": ["m1"], "name": "Try"}
{"event": "task", "handler": false, "name": "ok", "role": null}
{"event": "result", "host": "m1", "status": "ok", "task": "ok"}
{"event": "task", "handler": false, "name": "loop x", "role": "consul"}
{"event": "result", "host": "m1", "item": "a", "status": "changed", "task": "loop x"}
{"event": "result", "host": "m1", "item": "b", "status": "ok", "task": "loop x"}
{"event": "task", "handler": false, "name": "secret", "role": null}
{"event": "failure", "host": "m1", "ignored": true, "message": "output hidden: the task has no_log set", "task": "secret", "unreachable": false}
{"event": "task", "handler": false, "name": "Wait for a leader", "role": "consul"}
{"attempt": 1, "event": "retry", "host": "m1", "retries": 91, "task": "Wait for a leader"}
{"event": "warning", "message": "something to know"}
{"event": "task", "handler": false, "name": "skip", "role": null}
{"event": "result", "host": "m1", "status": "skipped", "task": "skip"}
{"event": "task", "handler": true, "name": "Restart Consul", "role": "consul"}
{"event": "failure", "host": "w1", "ignored": false, "message": "Failed to connect to the host via ssh", "task": "Restart Consul", "unreachable": true}
{"event": "task", "handler": false, "name": "fail", "role": null}
{"event": "failure", "host": "m1", "ignored": false, "message": "boom", "task": "fail", "unreachable": false}
{"counts": {"changed": 3, "failed": 1, "ignored": 2, "ok": 4, "rescued": 0, "skipped": 1, "unreachable": 0}, "event": "recap", "host": "m1"}
{"counts": {"changed": 0, "failed": 0, "ignored": 0, "ok": 0, "rescued": 0, "skipped": 0, "unreachable": 1}, "event": "recap", "host": "w1"}`;

describe("parseEventLine", () => {
  it("reads every kind of event the callback prints", () => {
    const events = callbackOutput.split("\n").map(parseEventLine);
    expect(events).toEqual([
      { kind: "play", name: "Try" },
      { kind: "task", name: "ok" },
      { kind: "result", host: "m1", task: "ok", status: "ok" },
      { kind: "task", name: "loop x", role: "consul" },
      { kind: "result", host: "m1", task: "loop x", status: "changed", item: "a" },
      { kind: "result", host: "m1", task: "loop x", status: "ok", item: "b" },
      { kind: "task", name: "secret" },
      {
        kind: "failure",
        host: "m1",
        task: "secret",
        unreachable: false,
        message: "output hidden: the task has no_log set",
        ignored: true,
      },
      { kind: "task", name: "Wait for a leader", role: "consul" },
      { kind: "retry", host: "m1", task: "Wait for a leader", attempt: 1, retries: 91 },
      { kind: "warning", message: "something to know" },
      { kind: "task", name: "skip" },
      { kind: "result", host: "m1", task: "skip", status: "skipping" },
      { kind: "task", name: "Restart Consul", role: "consul", handler: true },
      {
        kind: "failure",
        host: "w1",
        task: "Restart Consul",
        unreachable: true,
        message: "Failed to connect to the host via ssh",
      },
      { kind: "task", name: "fail" },
      { kind: "failure", host: "m1", task: "fail", unreachable: false, message: "boom" },
      {
        kind: "recap",
        host: "m1",
        counts: {
          ok: 4,
          changed: 3,
          unreachable: 0,
          failed: 1,
          skipped: 1,
          rescued: 0,
          ignored: 2,
        },
      },
      {
        kind: "recap",
        host: "w1",
        counts: {
          ok: 0,
          changed: 0,
          unreachable: 1,
          failed: 0,
          skipped: 0,
          rescued: 0,
          ignored: 0,
        },
      },
    ]);
  });

  it.each([
    ["", "an empty line"],
    ["ERROR! the playbook: site.yml could not be found", "Ansible's own error text"],
    ['{"event": "mystery"}', "an unknown event"],
    ['{"event": "result", "status": "weird"}', "an unknown status"],
    ['{"event": "play", ', "a cut line"],
    ["[1, 2]", "JSON that is not an object"],
  ])("ignores %j (%s)", (line) => {
    expect(parseEventLine(line)).toBeUndefined();
  });
});

describe("AnsibleOutputParser on the callback's JSON lines", () => {
  it("sums up failures (ignored ones marked) and the recap, and keeps reading Ansible's errors", () => {
    const parser = new AnsibleOutputParser();
    for (const line of [...callbackOutput.split("\n"), "ERROR! a stop"]) parser.feed(line);
    const summary = parser.result();
    expect(summary.failures).toEqual([
      {
        host: "m1",
        task: "secret",
        unreachable: false,
        message: "output hidden: the task has no_log set",
        ignored: true,
      },
      {
        host: "w1",
        task: "Restart Consul",
        unreachable: true,
        message: "Failed to connect to the host via ssh",
        ignored: false,
      },
      { host: "m1", task: "fail", unreachable: false, message: "boom", ignored: false },
    ]);
    expect(Object.keys(summary.recap)).toEqual(["m1", "w1"]);
    expect(summary.recap.w1?.unreachable).toBe(1);
    expect(summary.errors).toEqual(["a stop"]);
  });
});
