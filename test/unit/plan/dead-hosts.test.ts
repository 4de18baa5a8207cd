import { describe, expect, it } from "vitest";
import {
  findDeadHosts,
  machinesGone,
  type DeadHostEvidence,
} from "../../../src/plan/dead-hosts.js";
import type { TofuPlanJson } from "../../../src/plan/bring-up.js";

const stopped = (name: string) => ({
  address: `docker_container.host["${name}"]`,
  change: { actions: ["update"], before: { must_run: false }, after: { must_run: true } },
});
const created = (name: string) => ({
  address: `docker_container.host["${name}"]`,
  change: { actions: ["create"] },
});
const hosts: DeadHostEvidence["hosts"] = [
  { name: "t-manager-1", role: "manager" },
  { name: "t-manager-2", role: "manager" },
  { name: "t-worker-1", role: "worker" },
];
const alive = hosts.map((h) => ({ name: h.name, status: 1 }));
const ready = [{ name: "t-worker-1", status: "ready" }];
const evidence = (o: Partial<DeadHostEvidence>): DeadHostEvidence => ({
  hosts,
  plan: { resource_changes: [] },
  sshSilent: [],
  consulMembers: alive,
  nomadNodes: ready,
  ...o,
});
const failed = (name: string) => alive.map((m) => (m.name === name ? { name, status: 4 } : m));

describe("machinesGone", () => {
  it("a stopped container (started or replaced) and a vanished one; not a volume, not a plain update", () => {
    const plan: TofuPlanJson = {
      resource_changes: [
        stopped("t-worker-1"),
        created("t-manager-2"),
        {
          address: 'docker_container.host["t-worker-9"]',
          change: { actions: ["delete", "create"] },
        },
        { address: 'docker_volume.package_data["t-worker-2"]', change: { actions: ["create"] } },
        {
          address: 'docker_container.host["t-manager-1"]',
          change: { actions: ["update"], before: { must_run: true }, after: { must_run: true } },
        },
      ],
    };
    expect(machinesGone(plan)).toEqual(["t-worker-1", "t-manager-2", "t-worker-9"]);
  });
});

describe("findDeadHosts", () => {
  it.each<[string, Partial<DeadHostEvidence>, string[]]>([
    ["all well", {}, []],
    [
      "a killed worker: container stopped, Consul failed, Nomad down",
      {
        plan: { resource_changes: [stopped("t-worker-1")] },
        consulMembers: failed("t-worker-1"),
        nomadNodes: [{ name: "t-worker-1", status: "down" }],
      },
      ["t-worker-1"],
    ],
    [
      "a killed manager out of 2+: container stopped, Consul failed",
      {
        plan: { resource_changes: [stopped("t-manager-2")] },
        consulMembers: failed("t-manager-2"),
      },
      ["t-manager-2"],
    ],
    [
      "a droplet gone silent: sshd does not answer and Consul says failed",
      { sshSilent: ["t-manager-2"], consulMembers: failed("t-manager-2") },
      ["t-manager-2"],
    ],
    ["sshd slow but Consul and Nomad say alive: not dead", { sshSilent: ["t-worker-1"] }, []],
    [
      "stopped a moment ago, Consul has not noticed yet: not dead (bring-up starts it again)",
      { plan: { resource_changes: [stopped("t-manager-2")] } },
      [],
    ],
    [
      "Consul says failed but the machine runs and answers: not dead",
      { consulMembers: failed("t-worker-1") },
      [],
    ],
  ])("%s", (_what, e, dead) => {
    expect(findDeadHosts(evidence(e)).map((d) => d.host)).toEqual(dead);
  });

  it("says why", () => {
    expect(
      findDeadHosts(
        evidence({
          plan: { resource_changes: [stopped("t-worker-1")] },
          consulMembers: failed("t-worker-1"),
          nomadNodes: [{ name: "t-worker-1", status: "down" }],
        }),
      ),
    ).toEqual([
      {
        host: "t-worker-1",
        why: "its machine is not running (OpenTofu's refresh); Consul: status 4, Nomad: down",
      },
    ]);
  });
});
