import { describe, expect, it } from "vitest";
import { AnsibleOutputParser } from "../../../src/ansible/output.js";

function parse(text: string) {
  const parser = new AnsibleOutputParser();
  const events = text
    .split("\n")
    .map((line) => parser.feed(line))
    .filter((e) => e !== undefined);
  return { events, summary: parser.result() };
}

const failedRun = `
PLAY [Configure machines] ******************************************************

TASK [Gathering Facts] *********************************************************
ok: [m1]
fatal: [w1]: UNREACHABLE! => {"changed": false, "msg": "Failed to connect to the host via ssh: Connection refused", "unreachable": true}

TASK [Install Nomad] ***********************************************************
changed: [m1]

TASK [Probe optional thing] ****************************************************
fatal: [m1]: FAILED! => {"changed": false, "msg": "optional is missing"}
...ignoring

TASK [Start Nomad] *************************************************************
failed: [m1] (item=nomad) => {"ansible_loop_var": "item", "changed": false, "item": "nomad", "msg": "Unit nomad.service not found."}
skipping: [m1] (item=consul)

PLAY RECAP *********************************************************************
m1                         : ok=2    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=1
w1                         : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
`;

describe("AnsibleOutputParser on playbook output", () => {
  it("emits plays, tasks and per-host results in order", () => {
    const { events } = parse(failedRun);
    expect(events.slice(0, 4)).toEqual([
      { kind: "play", name: "Configure machines" },
      { kind: "task", name: "Gathering Facts" },
      { kind: "result", host: "m1", task: "Gathering Facts", status: "ok" },
      {
        kind: "failure",
        host: "w1",
        task: "Gathering Facts",
        unreachable: true,
        message: "Failed to connect to the host via ssh: Connection refused",
      },
    ]);
    expect(events).toContainEqual({
      kind: "result",
      host: "m1",
      task: "Start Nomad",
      status: "skipping",
      item: "consul",
    });
  });
  it("collects failures with their task and host, marking ignored ones", () => {
    expect(parse(failedRun).summary.failures).toEqual([
      {
        host: "w1",
        task: "Gathering Facts",
        unreachable: true,
        message: "Failed to connect to the host via ssh: Connection refused",
        ignored: false,
      },
      {
        host: "m1",
        task: "Probe optional thing",
        unreachable: false,
        message: "optional is missing",
        ignored: true,
      },
      {
        host: "m1",
        task: "Start Nomad",
        unreachable: false,
        message: "Unit nomad.service not found.",
        ignored: false,
      },
    ]);
  });
  it("reads the recap", () => {
    expect(parse(failedRun).summary.recap).toEqual({
      m1: { ok: 2, changed: 1, unreachable: 0, failed: 1, skipped: 0, rescued: 0, ignored: 1 },
      w1: { ok: 0, changed: 0, unreachable: 1, failed: 0, skipped: 0, rescued: 0, ignored: 0 },
    });
  });
  it("keeps a failure's stderr with its message, and errors that stop a run", () => {
    const { summary } = parse(
      [
        "TASK [Run it] ****",
        'fatal: [m1]: FAILED! => {"changed": true, "cmd": ["false"], "msg": "non-zero return code", "rc": 1, "stderr": "boom"}',
        "ERROR! the playbook: missing.yml could not be found",
      ].join("\n"),
    );
    expect(summary.failures[0]).toMatchObject({
      task: "Run it",
      message: "non-zero return code: boom",
    });
    expect(summary.errors).toEqual(["the playbook: missing.yml could not be found"]);
  });
});

describe("AnsibleOutputParser on ad-hoc output", () => {
  it("reads success lines and multi-line failure results", () => {
    const { events, summary } = parse(
      [
        "m1 | SUCCESS => {",
        '    "changed": false,',
        '    "ping": "pong"',
        "}",
        "w1 | UNREACHABLE! => {",
        '    "changed": false,',
        '    "msg": "Failed to connect to the host via ssh: timed out",',
        '    "unreachable": true',
        "}",
        "w2 | FAILED! | rc=1 >>",
      ].join("\n"),
    );
    expect(events[0]).toEqual({ kind: "result", host: "m1", task: undefined, status: "ok" });
    expect(summary.failures).toEqual([
      {
        host: "w1",
        task: undefined,
        unreachable: true,
        message: "Failed to connect to the host via ssh: timed out",
        ignored: false,
      },
      { host: "w2", task: undefined, unreachable: false, message: "", ignored: false },
    ]);
  });
});
