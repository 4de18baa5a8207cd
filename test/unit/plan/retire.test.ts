import { describe, expect, it } from "vitest";
import {
  drainVerdict,
  groupsToReplace,
  isHostServer,
  managerRemovalRefusals,
  raftSettled,
  replacementsReady,
  type RaftPeer,
  type RetireAlloc,
} from "../../../src/plan/retire.js";

const alloc = (
  id: string,
  o: Partial<RetireAlloc> & { job?: string; healthy?: boolean | null } = {},
): RetireAlloc => ({
  ID: id,
  JobID: o.job ?? "web",
  JobType: o.JobType ?? "service",
  TaskGroup: o.TaskGroup ?? "web",
  NodeID: o.NodeID ?? "n1",
  ClientStatus: o.ClientStatus ?? "running",
  DesiredStatus: o.DesiredStatus ?? "run",
  DeploymentStatus: o.healthy === undefined ? { Healthy: true } : { Healthy: o.healthy },
});

describe("which groups must run elsewhere before a worker goes", () => {
  it.each([
    [
      "a running service allocation, at its job's count",
      [alloc("a")],
      { "web/web": 2 },
      [["web", "web", 2]],
    ],
    [
      "two of one group: one entry",
      [alloc("a"), alloc("b")],
      { "web/web": 2 },
      [["web", "web", 2]],
    ],
    ["system jobs run on every node anyway", [alloc("a", { JobType: "system" })], {}, []],
    ["batch jobs are not replaced", [alloc("a", { JobType: "batch" })], {}, []],
    [
      "stopped or finished allocations are not",
      [alloc("a", { DesiredStatus: "stop" }), alloc("b", { ClientStatus: "complete" })],
      {},
      [],
    ],
    ["a job not found counts 1", [alloc("a", { job: "gone" })], {}, [["gone", "web", 1]]],
  ])("%s", (_what, onNode, counts, expected) => {
    expect(groupsToReplace(onNode, counts).map((g) => [g.job, g.group, g.count])).toEqual(expected);
  });
});

describe("is the drain done", () => {
  const node = { Name: "w1" };
  it.each([
    ["still draining", { ...node, DrainStrategy: { Deadline: 1 } }, [alloc("a")], "waiting"],
    [
      "drain ended, nothing left",
      { ...node, DrainStrategy: null, LastDrain: { Status: "complete" } },
      [],
      "done",
    ],
    [
      "drain ended but a service allocation still runs",
      { ...node, DrainStrategy: null },
      [alloc("a")],
      "waiting",
    ],
    [
      "only stopped allocations left",
      { ...node, DrainStrategy: null },
      [alloc("a", { ClientStatus: "complete" })],
      "done",
    ],
    [
      "system allocations do not hold it",
      { ...node, DrainStrategy: null },
      [alloc("a", { JobType: "system" })],
      "done",
    ],
    [
      "someone cancelled it",
      { ...node, DrainStrategy: null, LastDrain: { Status: "canceled" } },
      [],
      "failed",
    ],
  ])("%s", (_what, n, onNode, kind) => {
    expect(drainVerdict(n, onNode).kind).toBe(kind);
  });

  it("while it drains, says what is still to move and what is stopping", () => {
    const draining = { Name: "w1", DrainStrategy: { Deadline: 60 } };
    expect(
      drainVerdict(draining, [
        alloc("a", { job: "web", TaskGroup: "web" }),
        alloc("b", { job: "acme-issuer", TaskGroup: "issuer", DesiredStatus: "stop" }),
        alloc("c", { job: "ingress", TaskGroup: "w1", JobType: "system" }),
      ]),
    ).toEqual({
      kind: "waiting",
      detail:
        "draining, 1 service allocation(s) still on w1; to move: web/web; stopping: acme-issuer/issuer",
    });
  });
});

describe("are the replacements running and healthy elsewhere", () => {
  const groups = [{ job: "web", group: "web", count: 2 }];
  it.each([
    [
      "two healthy on other nodes",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n3" })],
      new Set<string>(),
      true,
    ],
    [
      "one still unhealthy",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n3", healthy: null })],
      new Set<string>(),
      false,
    ],
    [
      "health unknown to Nomad, Consul checks pass",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n3", healthy: null })],
      new Set(["b"]),
      true,
    ],
    [
      "Nomad says unhealthy: Consul does not overrule it",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n3", healthy: false })],
      new Set(["b"]),
      false,
    ],
    [
      "one is still on the drained node",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n1" })],
      new Set<string>(),
      false,
    ],
    [
      "one is still starting",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n3", ClientStatus: "pending" })],
      new Set<string>(),
      false,
    ],
    [
      "another group does not count",
      [alloc("a", { NodeID: "n2" }), alloc("b", { NodeID: "n3", TaskGroup: "other" })],
      new Set<string>(),
      false,
    ],
  ])("%s", (_what, allocations, passing, ready) => {
    expect(replacementsReady(groups, allocations, "n1", passing).ready).toBe(ready);
  });

  it("says which group waits and how far it is", () => {
    expect(
      replacementsReady(groups, [alloc("a", { NodeID: "n2" })], "n1", new Set()).waiting,
    ).toEqual(["web/web: 1 of 2 healthy"]);
  });
});

const server = (name: string, address: string, voter = true): RaftPeer => ({
  ID: `id-${name}`,
  Node: name,
  Address: address,
  Voter: voter,
});
const m1 = { name: "t-manager-1", privateAddress: "10.0.0.2" };

describe("a manager's raft servers", () => {
  it.each([
    ["Consul names it by node name", server("t-manager-1", "10.0.0.2:8300"), true],
    ["Nomad by <name>.<region>", server("t-manager-1.global", "10.0.0.2:4647"), true],
    ["a longer name is another host", server("t-manager-10.global", "10.0.0.9:4647"), false],
    ["the address settles a renamed node", server("old-name", "10.0.0.2:8300"), true],
  ])("%s", (_what, s, mine) => {
    expect(isHostServer(s, m1)).toBe(mine);
  });

  it.each([
    [
      "3 voters, healthy: may go",
      [
        server("t-manager-1", "10.0.0.2:8300"),
        server("t-manager-2", "10.0.0.3:8300"),
        server("t-manager-3", "10.0.0.4:8300"),
      ],
      true,
      [],
    ],
    ["the last voter: refused", [server("t-manager-1", "10.0.0.2:8300")], true, [/no voter left/]],
    [
      "unhealthy now: refused",
      [server("t-manager-1", "10.0.0.2:8300"), server("t-manager-2", "10.0.0.3:8300")],
      false,
      [/unhealthy/],
    ],
    [
      "the other is a non-voter: refused",
      [server("t-manager-1", "10.0.0.2:8300"), server("t-manager-2", "10.0.0.3:8300", false)],
      true,
      [/no voter left/],
    ],
  ])("%s", (_what, servers, healthy, reasons) => {
    const got = managerRemovalRefusals({
      host: m1,
      system: "Consul",
      servers,
      autopilotHealthy: healthy,
    });
    expect(got).toHaveLength(reasons.length);
    reasons.forEach((r, i) => expect(got[i]).toMatch(r));
  });

  it.each([
    [
      "still a peer",
      [server("t-manager-1", "10.0.0.2:8300"), server("t-manager-2", "10.0.0.3:8300")],
      1,
      true,
      false,
      /still in Consul's raft/,
    ],
    [
      "gone, but a voter short",
      [server("t-manager-2", "10.0.0.3:8300", false)],
      1,
      true,
      false,
      /0 voter\(s\), 1 expected/,
    ],
    [
      "gone, voters right, autopilot not yet healthy",
      [server("t-manager-2", "10.0.0.3:8300")],
      1,
      false,
      false,
      /autopilot/,
    ],
    [
      "settled",
      [server("t-manager-2", "10.0.0.3:8300"), server("t-manager-3", "10.0.0.4:8300")],
      2,
      true,
      true,
      /2 voter\(s\), healthy/,
    ],
  ])("raft settled: %s", (_what, servers, expectedVoters, healthy, settled, detail) => {
    const got = raftSettled({
      host: m1,
      system: "Consul",
      servers,
      expectedVoters,
      autopilotHealthy: healthy,
    });
    expect(got.settled).toBe(settled);
    expect(got.detail).toMatch(detail);
  });
});
