import { describe, expect, it } from "vitest";
import {
  findDegradations,
  formatAge,
  formatDegradations,
  spreadDegradation,
  type HealthInput,
  type ObservedService,
} from "../../../src/plan/health.js";
import type { ObservedCluster } from "../../../src/plan/verify.js";

const now = Date.parse("2026-11-24T03:00:00Z");
const inventory = {
  hosts: [
    { name: "t-manager-1", role: "manager" as const },
    { name: "t-worker-1", role: "worker" as const },
    { name: "t-worker-2", role: "worker" as const },
  ],
};
const server = (node: string, voter = true) => ({
  node,
  address: "10.0.0.11:4647",
  leader: voter,
  voter,
});
const worker = (name: string) => ({
  name,
  status: "ready",
  eligible: true,
  docker: { detected: true, healthy: true, description: "Healthy" },
});

function healthyCluster(): ObservedCluster {
  return {
    nomad: {
      leader: "10.0.0.11:4647",
      servers: [server("t-manager-1.global")],
      autopilotHealthy: true,
      nodes: [worker("t-worker-1"), worker("t-worker-2")],
    },
    consul: {
      leader: "10.0.0.11:8300",
      servers: [server("t-manager-1")],
      autopilotHealthy: true,
      members: inventory.hosts.map((h) => ({ name: h.name, status: 1 })),
    },
    traefik: [
      { worker: "t-worker-1", ok: true, detail: "ping 200" },
      { worker: "t-worker-2", ok: true, detail: "ping 200" },
    ],
    loadBalancer: { ok: true, detail: "200" },
  };
}

const alloc = (id: string, node: string, status = "running", healthy: boolean | null = true) => ({
  id,
  node,
  status,
  healthy,
});
function healthyServices(): ObservedService[] {
  return [
    {
      service: "elm-lang.org",
      deployed: true,
      count: 2,
      allocations: [alloc("aaaa1111", "t-worker-1"), alloc("bbbb2222", "t-worker-2")],
      traefikServers: { "http://10.0.0.101:25000": "UP", "http://10.0.0.102:25001": "UP" },
    },
    {
      service: "package.elm-lang.org",
      deployed: true,
      count: 1,
      allocations: [alloc("cccc3333", "t-worker-2")],
    },
  ];
}

function healthy(): HealthInput {
  return {
    inventory,
    cluster: healthyCluster(),
    services: healthyServices(),
    backups: [
      {
        service: "package.elm-lang.org",
        lastSuccessAt: "2026-11-24T02:30:00Z",
        maxAgeSeconds: 3600,
      },
    ],
    now,
  };
}

const lines = (input: HealthInput) => formatDegradations(findDegradations(input)).split("\n");

describe("spreadDegradation", () => {
  const together = (): ObservedService => ({
    service: "elm-lang.org",
    deployed: true,
    count: 2,
    allocations: [alloc("aaaa1111", "t-worker-1"), alloc("bbbb2222", "t-worker-1")],
  });
  it("judges against the workers that can take allocations now", () => {
    expect(spreadDegradation(together(), ["t-worker-1", "t-worker-2"])?.subject).toBe(
      "elm-lang.org",
    );
    // one worker ready and eligible: nothing better is possible
    expect(spreadDegradation(together(), ["t-worker-1"])).toBeUndefined();
    // three instances on two workers: two on one is the best spread
    const three = together();
    three.count = 3;
    three.allocations.push(alloc("cccc3333", "t-worker-2"));
    expect(spreadDegradation(three, ["t-worker-1", "t-worker-2"])).toBeUndefined();
  });
});

describe("findDegradations", () => {
  it("a healthy cluster has none", () => {
    expect(findDegradations(healthy())).toEqual([]);
    expect(formatDegradations([])).toBe("");
  });

  it.each<[string, (i: HealthInput) => void, string[]]>([
    [
      "a worker down",
      (i) => (i.cluster!.nomad.nodes[1]!.status = "down"),
      ["Nomad: t-worker-2 is ready with a healthy Docker driver: down, docker healthy"],
    ],
    [
      "a worker Nomad no longer knows",
      (i) => i.cluster!.nomad.nodes.pop(),
      ["Nomad: t-worker-2 is ready with a healthy Docker driver: not registered with Nomad"],
    ],
    [
      "a Consul member failed",
      (i) => (i.cluster!.consul.members[2]!.status = 4),
      ["Consul: t-worker-2 is an alive member: failed"],
    ],
    [
      "a manager of the inventory missing from Nomad's raft",
      (i) => (i.cluster!.nomad.servers = []),
      ["Nomad: t-manager-1 is a voter: not in the raft configuration"],
    ],
    [
      "a raft voter that is no manager of the inventory (a dead peer)",
      (i) => i.cluster!.consul.servers.push(server("t-manager-2")),
      [
        "Consul raft peer t-manager-2 (10.0.0.11:4647): a voter that is no manager of the inventory",
      ],
    ],
    [
      "a non-voter that is no manager of the inventory",
      (i) => i.cluster!.nomad.servers.push(server("t-manager-3.global", false)),
      [
        "Nomad raft peer t-manager-3.global (10.0.0.11:4647): a non-voter that is no manager of the inventory",
      ],
    ],
    [
      "an allocation missing (fewer running than the job's count)",
      (i) => i.services[0]!.allocations.pop(),
      ["elm-lang.org: 1 of 2 allocations running and healthy"],
    ],
    [
      "an allocation unhealthy",
      (i) => (i.services[0]!.allocations[1]!.healthy = false),
      [
        "elm-lang.org: 1 of 2 allocations running and healthy",
        "elm-lang.org allocation bbbb2222 on t-worker-2: unhealthy",
      ],
    ],
    [
      "an allocation pending after a reschedule",
      (i) => (i.services[1]!.allocations[0]!.status = "pending"),
      [
        "package.elm-lang.org: 0 of 1 allocations running and healthy",
        "package.elm-lang.org allocation cccc3333 on t-worker-2: pending",
      ],
    ],
    [
      "an allocation whose image cannot be pulled: the pull's explanation, not just 'pending'",
      (i) => {
        const a = i.services[1]!.allocations[0]!;
        a.status = "pending";
        a.pullFailure =
          "server: could not pull 10.213.0.5:5000/package.elm-lang.org:2 from 10.213.0.5:5000: not found (manifest unknown); push that version first";
      },
      [
        "package.elm-lang.org: 0 of 1 allocations running and healthy",
        "package.elm-lang.org allocation cccc3333 on t-worker-2: server: could not pull 10.213.0.5:5000/package.elm-lang.org:2 from 10.213.0.5:5000: not found (manifest unknown); push that version first",
      ],
    ],
    [
      "a server Traefik sees DOWN",
      (i) => (i.services[0]!.traefikServers!["http://10.0.0.102:25001"] = "DOWN"),
      ["elm-lang.org server http://10.0.0.102:25001: Traefik sees it DOWN"],
    ],
    [
      "a backup older than its schedule",
      (i) => (i.backups![0]!.lastSuccessAt = "2026-11-24T01:29:30Z"),
      [
        "backup of package.elm-lang.org: the last one succeeded 1h30m ago (2026-11-24T01:29:30Z); the schedule allows 1h0m",
      ],
    ],
    [
      "no backup yet",
      (i) => delete i.backups![0]!.lastSuccessAt,
      ["backup of package.elm-lang.org: none has succeeded yet"],
    ],
    [
      "a worker killed: node down, member failed, Traefik silent, its allocations lost",
      (i) => {
        i.cluster!.nomad.nodes[0]!.status = "down";
        i.cluster!.consul.members[1]!.status = 4;
        i.cluster!.traefik[0] = { worker: "t-worker-1", ok: false, detail: "connection refused" };
        i.services[0]!.allocations[0]!.status = "lost";
      },
      [
        "Nomad: t-worker-1 is ready with a healthy Docker driver: down, docker healthy",
        "Consul: t-worker-1 is an alive member: failed",
        "Traefik answers on t-worker-1: connection refused",
        "elm-lang.org: 1 of 2 allocations running and healthy",
        "elm-lang.org allocation aaaa1111 on t-worker-1: lost",
      ],
    ],
    [
      "both allocations on one worker of the two that could take them (the spread lost)",
      (i) => {
        i.services[0]!.allocations[1]!.node = "t-worker-1";
        i.services[0]!.version = "1.0.1";
      },
      [
        "elm-lang.org: its spread is lost: 2 allocations on 1 worker (t-worker-1) of the 2 that could take them, so one worker's loss takes them all; elm-infra deploy elm-lang.org@1.0.1 places them again",
      ],
    ],
    [
      "an allocation a restarted node's client still runs, long after the servers stopped it",
      (i) =>
        (i.staleAllocations = [
          { node: "t-worker-2", id: "eeee5555", job: "ingress", desired: "stop", ageSeconds: 345 },
        ]),
      [
        "node t-worker-2: allocation eeee5555 of ingress still runs there 5m45s after the servers set it to stop (a dead boot's, or a stop its client never finished): while it holds its ports Nomad places nothing there; on that node, remove Nomad's stopped containers and restart its Nomad agent (systemctl restart elm-infra-nomad-dead-boot nomad; bring-up installs that unit), or reboot it (elm-infra reboot t-worker-2)",
      ],
    ],
  ])("%s is named", (_what, change, expected) => {
    const input = healthy();
    change(input);
    expect(lines(input)).toEqual(expected);
  });

  it.each<[string, (i: HealthInput) => void]>([
    [
      "a backup exactly as old as its schedule allows",
      (i) => (i.backups![0]!.lastSuccessAt = "2026-11-24T02:00:00Z"),
    ],
    ["no backups observed (the input is optional)", (i) => delete i.backups],
    [
      "a service never deployed",
      (i) =>
        (i.services[1] = {
          service: "package.elm-lang.org",
          deployed: false,
          count: null,
          allocations: [],
        }),
    ],
    [
      "a pinned service (its data on one worker) with its allocations together",
      (i) => {
        i.services[0]!.allocations[1]!.node = "t-worker-1";
        i.services[0]!.pinned = true;
      },
    ],
    [
      "an allocation still stopping, within its kill timeout",
      (i) =>
        (i.staleAllocations = [
          { node: "t-worker-2", id: "eeee5555", job: "ingress", desired: "stop", ageSeconds: 40 },
        ]),
    ],
    [
      "a deployment's extra canary beside the running allocations",
      (i) => i.services[0]!.allocations.push(alloc("dddd4444", "t-worker-1", "running", null)),
    ],
    [
      "a target without hosts (dev agents): only the services count",
      (i) => {
        delete i.cluster;
        delete i.inventory;
      },
    ],
  ])("%s is not a degradation", (_what, change) => {
    const input = healthy();
    change(input);
    expect(findDegradations(input)).toEqual([]);
  });

  it("kinds say what part of the cluster is degraded", () => {
    const input = healthy();
    input.cluster!.nomad.leader = "";
    input.cluster!.consul.servers.push(server("t-manager-9"));
    input.services[0]!.allocations.pop();
    delete input.backups![0]!.lastSuccessAt;
    expect(findDegradations(input).map((d) => d.kind)).toEqual([
      "cluster",
      "raft",
      "service",
      "backup",
    ]);
  });
});

describe("formatAge", () => {
  it.each([
    [0, "0s"],
    [59, "59s"],
    [90, "1m30s"],
    [3600, "1h0m"],
    [90061, "25h1m"],
  ])("%i s -> %s", (s, text) => expect(formatAge(s)).toBe(text));
});
