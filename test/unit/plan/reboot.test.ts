import { describe, expect, it } from "vitest";
import { ExitCode, UsageError } from "../../../src/errors.js";
import {
  managerRebootRefusals,
  planReboots,
  planUpgrade,
  type RebootCandidate,
  type RebootRequest,
} from "../../../src/plan/reboot.js";
import type { RaftPeer } from "../../../src/plan/retire.js";

const host = (name: string, needsReboot = false): RebootCandidate => ({
  name: `t-${name}`,
  role: name.startsWith("manager") ? "manager" : "worker",
  needsReboot,
});
const three = [host("manager-1"), host("manager-2"), host("manager-3")];
const two = [host("worker-1"), host("worker-2")];
const request = (o: Partial<RebootRequest>): RebootRequest => ({
  target: "t",
  hosts: [...three, ...two],
  named: [],
  all: false,
  allowApiOutage: false,
  leaders: ["t-manager-2"],
  ...o,
});
const order = (o: Partial<RebootRequest>) => planReboots(request(o)).order.map((s) => s.host);

describe("the order of a reboot", () => {
  it("--all: the workers first, then the managers' followers, the leader last (its leadership handed over)", () => {
    const plan = planReboots(request({ all: true }));
    expect(plan.order.map((s) => s.host)).toEqual([
      "t-worker-1",
      "t-worker-2",
      "t-manager-1",
      "t-manager-3",
      "t-manager-2",
    ]);
    expect(plan.order.filter((s) => s.leads).map((s) => s.host)).toEqual(["t-manager-2"]);
    expect(plan.apiOutage).toBe(false);
  });

  it("the package data's holder goes last of the workers: its data moves once, to a worker already done", () => {
    const three = [...two, host("worker-3")];
    expect(order({ hosts: three, all: true, dataHolder: "t-worker-1", leaders: [] })).toEqual([
      "t-worker-2",
      "t-worker-3",
      "t-worker-1",
    ]);
    expect(order({ named: ["worker-1", "worker-2"], dataHolder: "t-worker-1" })).toEqual([
      "t-worker-2",
      "t-worker-1",
    ]);
  });

  it("no hosts named: only those with /run/reboot-required, in the same order", () => {
    const hosts = [
      host("manager-1"),
      host("manager-2", true),
      host("worker-1", true),
      host("worker-2"),
    ];
    expect(order({ hosts })).toEqual(["t-worker-1", "t-manager-2"]);
    expect(order({ hosts: two })).toEqual([]);
  });

  it("named hosts, by full or short name, each once", () => {
    expect(order({ named: ["manager-2", "t-worker-2", "worker-2"] })).toEqual([
      "t-worker-2",
      "t-manager-2",
    ]);
  });

  it("a single manager only with --allow-api-outage (exit 2 otherwise, naming the workers-only command)", () => {
    const hosts = [host("manager-1"), ...two];
    const refused = () => planReboots(request({ hosts, all: true, leaders: ["t-manager-1"] }));
    expect(refused).toThrow(UsageError);
    expect(refused).toThrow(/only manager.*APIs do not answer/);
    try {
      refused();
    } catch (error) {
      expect((error as UsageError).exitCode).toBe(ExitCode.Usage);
      expect((error as UsageError).hint).toContain("elm-infra reboot t-worker-1 t-worker-2");
    }
    const plan = planReboots(request({ hosts, all: true, allowApiOutage: true }));
    expect(plan.apiOutage).toBe(true);
    expect(plan.order.at(-1)).toMatchObject({ host: "t-manager-1", leads: false });
    // The workers alone need no consent.
    expect(planReboots(request({ hosts, named: ["worker-1"] })).apiOutage).toBe(false);
  });

  it("refuses an unknown host, and hosts named with --all", () => {
    expect(() => planReboots(request({ named: ["worker-9"] }))).toThrow(
      /not a host of target 't': worker-9/,
    );
    expect(() => planReboots(request({ named: ["worker-1"], all: true }))).toThrow(/not both/);
  });
});

describe("when a manager may reboot", () => {
  const peer = (n: number, voter = true): RaftPeer => ({
    ID: `id-${n}`,
    Node: `t-manager-${n}`,
    Address: `10.0.0.${n}:4647`,
    Voter: voter,
  });
  const me = { name: "t-manager-1", privateAddress: "10.0.0.1" };
  const refusals = (servers: RaftPeer[], healthy = true, accepted = false) =>
    managerRebootRefusals({
      host: me,
      system: "Nomad",
      servers,
      autopilotHealthy: healthy,
      apiOutageAccepted: accepted,
    });

  it("three voters, healthy: it may (two of three keep quorum)", () => {
    expect(refusals([peer(1), peer(2), peer(3)])).toEqual([]);
  });
  it("unhealthy autopilot, or a quorum that rests on it: refused, saying why", () => {
    expect(refusals([peer(1), peer(2), peer(3)], false)).toEqual([
      "Nomad's autopilot reports the servers unhealthy now",
    ]);
    expect(refusals([peer(1), peer(2)])).toEqual([
      "Nomad would lose quorum: 1 of 2 voters would be left while it reboots",
    ]);
    expect(refusals([peer(1), peer(2), peer(3, false)])).toHaveLength(1);
  });
  it("the only server: only when the API outage was accepted", () => {
    expect(refusals([peer(1)])).toEqual([
      "Nomad has no other server: its API stops while this one reboots",
    ]);
    expect(refusals([peer(1)], true, true)).toEqual([]);
  });
});

describe("the order of an upgrade", () => {
  it("every host, the servers first (followers, then the leader), then the workers", () => {
    const plan = planUpgrade({
      target: "t",
      hosts: [...two, ...three],
      allowApiOutage: false,
      leaders: ["t-manager-1"],
    });
    expect(plan.order.map((s) => s.host)).toEqual([
      "t-manager-2",
      "t-manager-3",
      "t-manager-1",
      "t-worker-1",
      "t-worker-2",
    ]);
    const holderLast = planUpgrade({
      target: "t",
      hosts: [...two, ...three],
      allowApiOutage: false,
      leaders: ["t-manager-1"],
      dataHolder: "t-worker-1",
    });
    expect(holderLast.order.slice(3).map((s) => s.host)).toEqual(["t-worker-2", "t-worker-1"]);
  });
  it("a single manager only with --allow-api-outage", () => {
    const hosts = [host("manager-1"), ...two];
    expect(() => planUpgrade({ target: "t", hosts, allowApiOutage: false, leaders: [] })).toThrow(
      /only manager: while its agents restart, Nomad's and Consul's APIs do not answer/,
    );
    expect(planUpgrade({ target: "t", hosts, allowApiOutage: true, leaders: [] }).apiOutage).toBe(
      true,
    );
  });
});
