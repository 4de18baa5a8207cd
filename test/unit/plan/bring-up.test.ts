import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireOperationsLock } from "../../../src/cluster/operations-lock.js";
import { ConflictError } from "../../../src/errors.js";
import { describePlan, hostsToTrustOnFirstUse, summarizePlan } from "../../../src/plan/bring-up.js";
import {
  clusterSecretFields,
  forgetClusterSecrets,
  planClusterSecrets,
} from "../../../src/plan/secrets.js";
import { verifyCluster, type ObservedCluster } from "../../../src/plan/verify.js";
import { withoutHosts } from "../../../src/ssh/index.js";

let n = 0;
const generators = {
  uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
  gossipKey: () => `${"A".repeat(42)}${String(++n % 10)}=`,
  clusterSnapshotIdentity: () => `AGE-SECRET-KEY-1${"Q".repeat(57)}${String((++n % 8) + 2)}`,
};

describe("planClusterSecrets", () => {
  it("generates every missing cluster secret once, and keeps what the file holds", () => {
    const first = planClusterSecrets(
      { digitaloceanToken: "dop" },
      { digitaloceanToken: "dop" },
      generators,
    );
    expect(first.generated).toEqual([...clusterSecretFields, "clusterSnapshotIdentity"]);
    expect(first.file.digitaloceanToken).toBe("dop");
    expect(first.file.consulGossipKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(first.file.nomadToken).toMatch(/^[0-9a-f-]{36}$/);

    const again = planClusterSecrets(first.file, first.file, generators);
    expect(again.generated).toEqual([]);
    expect(again.file).toEqual(first.file);
  });

  it("does not write a secret the environment supplies into the file", () => {
    const env = { nomadToken: "11111111-1111-1111-1111-111111111111" };
    const plan = planClusterSecrets({}, env, generators);
    expect(plan.generated).not.toContain("nomadToken");
    expect(plan.file.nomadToken).toBeUndefined();
    expect(plan.effective.nomadToken).toBe(env.nomadToken);
  });

  it("destroy forgets the cluster's secrets and keeps the user's, and the snapshots' identity", () => {
    const { file } = planClusterSecrets({ digitaloceanToken: "dop" }, {}, generators);
    expect(forgetClusterSecrets(file)).toEqual({
      digitaloceanToken: "dop",
      clusterSnapshotIdentity: file.clusterSnapshotIdentity,
    });
    // The next bring-up reuses it: the copies taken before destroy and after decrypt alike.
    const kept = forgetClusterSecrets(file);
    const next = planClusterSecrets(kept, kept, generators);
    expect(next.file.clusterSnapshotIdentity).toBe(file.clusterSnapshotIdentity);
    expect(next.generated).not.toContain("clusterSnapshotIdentity");
  });
});

const plan = (changes: Array<[string, string[]]>) => ({
  resource_changes: changes.map(([address, actions]) => ({ address, change: { actions } })),
});

describe("summarizePlan", () => {
  it.each([
    [
      "first bring-up",
      plan([
        ["docker_network.cluster", ["create"]],
        ['docker_container.host["t-manager-1"]', ["create"]],
        ['docker_volume.docker_data["t-manager-1"]', ["create"]],
        ['docker_container.host["t-worker-1"]', ["create"]],
      ]),
      "4 to create, 0 to change, 0 to replace, 0 to destroy (hosts: +t-manager-1 +t-worker-1)",
    ],
    [
      "nothing to do",
      plan([
        ["docker_network.cluster", ["no-op"]],
        ['docker_container.host["t-manager-1"]', ["no-op"]],
      ]),
      "no change: the infrastructure matches cluster.yaml",
    ],
    [
      "a worker removed, another replaced, the load balancer updated",
      plan([
        ['docker_container.host["t-worker-2"]', ["delete"]],
        ['docker_container.host["t-worker-1"]', ["delete", "create"]],
        ["docker_container.lb", ["update"]],
      ]),
      "0 to create, 1 to change, 1 to replace, 1 to destroy (hosts: ~t-worker-1 -t-worker-2)",
    ],
  ])("%s", (_name, json, line) => {
    expect(describePlan(summarizePlan(json))).toBe(line);
  });

  it("ignores data sources and trusts on first use only the hosts the plan creates or replaces", () => {
    const s = summarizePlan({
      resource_changes: [
        { address: "data.docker_image.host", mode: "data", change: { actions: ["read"] } },
        { address: 'docker_container.host["t-worker-3"]', change: { actions: ["create"] } },
        { address: 'docker_container.host["t-worker-1"]', change: { actions: ["no-op"] } },
      ],
    });
    expect(s.create).toEqual(['docker_container.host["t-worker-3"]']);
    expect([...hostsToTrustOnFirstUse(s)]).toEqual(["t-worker-3"]);
    expect([...hostsToTrustOnFirstUse(undefined)]).toEqual([]);
  });
});

const inventory = {
  hosts: [
    { name: "t-manager-1", role: "manager" as const },
    { name: "t-worker-1", role: "worker" as const },
  ],
};

function healthy(): ObservedCluster {
  const server = { address: "10.0.0.1", leader: true, voter: true };
  return {
    nomad: {
      leader: "10.0.0.1:4647",
      servers: [{ node: "t-manager-1.global", ...server }],
      autopilotHealthy: true,
      nodes: [
        {
          name: "t-worker-1",
          status: "ready",
          eligible: true,
          docker: { detected: true, healthy: true, description: "Healthy" },
        },
      ],
    },
    consul: {
      leader: "10.0.0.1:8300",
      servers: [{ node: "t-manager-1", ...server }],
      autopilotHealthy: true,
      members: [
        { name: "t-manager-1", status: 1 },
        { name: "t-worker-1", status: 1 },
      ],
    },
    traefik: [{ worker: "t-worker-1", ok: true, detail: "ping 200" }],
    loadBalancer: { ok: true, detail: "200" },
  };
}

describe("verifyCluster", () => {
  it("a healthy cluster passes every check", () => {
    const v = verifyCluster(inventory, healthy());
    expect(v.problems).toEqual([]);
    expect(v.healthy).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual([
      "Nomad has a leader",
      "Nomad: t-manager-1 is a voter",
      "Nomad autopilot is healthy",
      "Consul has a leader",
      "Consul: t-manager-1 is a voter",
      "Consul autopilot is healthy",
      "Nomad: t-worker-1 is ready with a healthy Docker driver",
      "Consul: t-manager-1 is an alive member",
      "Consul: t-worker-1 is an alive member",
      "Traefik answers on t-worker-1",
      "the load balancer answers",
    ]);
  });

  it.each<[string, (o: ObservedCluster) => void, string]>([
    ["no Nomad leader", (o) => (o.nomad.leader = ""), "Nomad has a leader: no leader elected"],
    [
      "a manager not a voter",
      (o) => (o.consul.servers[0]!.voter = false),
      "Consul: t-manager-1 is a voter: non-voter",
    ],
    [
      "the Docker driver unhealthy",
      (o) =>
        (o.nomad.nodes[0]!.docker = { detected: true, healthy: false, description: "no dockerd" }),
      "Nomad: t-worker-1 is ready with a healthy Docker driver: ready, docker unhealthy: no dockerd",
    ],
    [
      "a failed member",
      (o) => (o.consul.members[1]!.status = 4),
      "Consul: t-worker-1 is an alive member: failed",
    ],
    [
      "a stranger in the gossip pool",
      (o) => o.consul.members.push({ name: "t-worker-9", status: 1 }),
      "Consul has no member bring-up did not make: t-worker-9",
    ],
    [
      "Traefik not answering",
      (o) => (o.traefik = [{ worker: "t-worker-1", ok: false, detail: "connection refused" }]),
      "Traefik answers on t-worker-1: connection refused",
    ],
    [
      "the load balancer down",
      (o) => (o.loadBalancer = { ok: false, detail: "503" }),
      "the load balancer answers: 503",
    ],
  ])("%s fails with a line that says so", (_name, change, problem) => {
    const observed = healthy();
    change(observed);
    const v = verifyCluster(inventory, observed);
    expect(v.healthy).toBe(false);
    expect(v.problems).toEqual([problem]);
  });
});

describe("withoutHosts", () => {
  it("drops exactly the named hosts' lines, keeping wildcards, hashes, markers and others", () => {
    const text = [
      "[127.0.0.1]:2201 ssh-ed25519 AAAA1",
      "[127.0.0.1]:2211 ssh-ed25519 AAAA2",
      "* ssh-ed25519 AAAA3",
      "@revoked [127.0.0.1]:2201 ssh-ed25519 AAAA4",
      "[127.0.0.1]:2201,other ssh-ed25519 AAAA5",
      "",
    ].join("\n");
    expect(withoutHosts(text, ["[127.0.0.1]:2201"]).split("\n")).toEqual([
      "[127.0.0.1]:2211 ssh-ed25519 AAAA2",
      "* ssh-ed25519 AAAA3",
      "@revoked [127.0.0.1]:2201 ssh-ed25519 AAAA4",
      "[127.0.0.1]:2201,other ssh-ed25519 AAAA5",
      "",
    ]);
  });
});

describe("operations lock", () => {
  it("a second taker is refused (exit 3) with the holder named; released, it can be taken", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-lock-"));
    try {
      const held = await acquireOperationsLock(dir, "t", "bring-up");
      const refused = await acquireOperationsLock(dir, "t", "destroy").catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConflictError);
      expect((refused as ConflictError).exitCode).toBe(3);
      expect((refused as Error).message).toMatch(
        new RegExp(
          `destroy refused: bring-up by .+ \\(pid ${process.pid}, since .+\\) holds the operations lock of target t`,
        ),
      );
      await held.release();
      const again = await acquireOperationsLock(dir, "t", "destroy");
      await again.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
