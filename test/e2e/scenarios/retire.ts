/**
 * Retiring hosts (src/tasks/retire.ts) on the shared cluster (1 manager + 2 workers), through the
 * SDK as scale and replace call it: the only manager is refused; a worker leaves (drained) under
 * the probe on both sites through the load balancer without a failed request, then its agents start again
 * and the ingress takes it back, so the cluster is left as it was found (1 + 2, both sites
 * serving, every check passing).
 */
import { expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import { connectToCluster } from "../../../src/cluster/connect.js";
import {
  readInventory,
  type Inventory,
  type InventoryHost,
} from "../../../src/cluster/inventory.js";
import { ConflictError } from "../../../src/errors.js";
import { versionsByWorker, type JobWithGroups } from "../../../src/plan/ingress.js";
import { retireManager, retireWorker } from "../../../src/tasks/retire.js";
import type { ClusterView } from "../../../src/tasks/verify.js";
import { formatProbeLine } from "../../../src/traefik/probe.js";
import {
  docker,
  e2e,
  elmInfra,
  errorOf,
  failedRequestsOf,
  noFailures,
  underProbe,
  resultOf,
  viaLoadBalancer,
} from "../support.js";

/** The SDK's view of the shared cluster, closed after `use`. */
async function withCluster<T>(
  use: (o: Awaited<ReturnType<typeof open>>) => Promise<T>,
): Promise<T> {
  const o = await open();
  try {
    return await use(o);
  } finally {
    await o.apis.close();
  }
}

async function open() {
  const config = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  const inventory = (await readInventory(config)) as Inventory;
  return { config, inventory, apis: await connectToCluster(config) };
}

/** Waits (at most 2 minutes) until the worker's Nomad node is ready again. */
async function waitForNode(name: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const ready = await withCluster(async ({ apis }) =>
      (await apis.nomad.nodes()).some((n) => n.Name === name && n.Status === "ready"),
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`${name}'s Nomad node was not ready within 120 s`);
}

export function retireScenarios() {
  it("retire: the only manager is refused (exit 3), and its raft is untouched", async () => {
    await withCluster(async ({ config, inventory, apis }) => {
      const manager = inventory.hosts.find((h) => h.role === "manager")!;
      const before = await apis.nomad.raftConfiguration();
      const refused = await retireManager({
        config,
        inventory,
        apis,
        host: manager.name,
        log: () => undefined,
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConflictError);
      expect((refused as ConflictError).exitCode).toBe(3);
      expect((refused as Error).message).toMatch(/only manager/);
      expect(await apis.nomad.raftConfiguration()).toEqual(before);
    });
  });

  it("retire: a worker is drained and leaves under the probe with no failed request, its allocations healthy on the other; then it comes back", async () => {
    const began = Date.now();
    let worker = { name: "" } as InventoryHost;
    let traefikVersion = "";
    await withCluster(async ({ config, inventory, apis }) => {
      traefikVersion = Object.values(
        versionsByWorker((await apis.nomad.readJob("ingress")) as JobWithGroups),
      )[0]!;
      // The worker without the package site, whose data stays where it is.
      const pkg = (await apis.nomad.jobAllocations("package.elm-lang.org")).data.find(
        (a) => a.DesiredStatus === "run",
      );
      const workers = inventory.hosts.filter((h) => h.role === "worker");
      const nodes = await apis.nomad.nodes();
      worker = workers.find((w) => nodes.find((n) => n.Name === w.name)?.ID !== pkg?.NodeID)!;
      const other = workers.find((w) => w !== worker)!;
      const seenBeforeDrain: string[] = [];
      const lines: string[] = [];
      const { reports } = await underProbe(() =>
        retireWorker({
          config,
          inventory,
          apis,
          host: worker.name,
          log: (l) => lines.push(l),
          drainDeadlineMs: 60_000,
          onBeforeDrain: async (w) => {
            // Called after it left the load balancer and became ineligible, before the drain.
            const node = (await apis.nomad.nodes()).find((n) => n.Name === w)!;
            const ingress = await apis.nomad.readJob("ingress");
            seenBeforeDrain.push(
              w,
              node.SchedulingEligibility,
              String(node.Drain),
              (ingress?.TaskGroups ?? []).map((g) => g.Name).join(","),
            );
          },
        }),
      );
      console.log(
        `retire ${worker.name}: ${lines.join(" | ")}; ${reports.map(formatProbeLine).join("; ")}`,
      );
      for (const r of reports) expect(r.sent).toBeGreaterThan(100);
      expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
      expect(seenBeforeDrain).toEqual([worker.name, "ineligible", "false", other.name]);
      expect((await apis.nomad.nodes()).map((n) => n.Name)).toEqual([other.name]);
      const web = (await apis.nomad.jobAllocations("elm-lang.org")).data.filter(
        (a) => a.DesiredStatus === "run",
      );
      expect(web.map((a) => [a.NodeName, a.ClientStatus])).toEqual(
        web.map(() => [other.name, "running"]),
      );
      const member = (await apis.consul.members()).find((m) => m.Name === worker.name);
      expect(member?.Status ?? 3).toBe(3);
    });
    e2e.timings["retire a worker"] = Date.now() - began;
    // Retire destroys no machine: its agents start again and the ingress takes it back, the
    // cheap way back to 1 + 2 (bring-up would too, in minutes).
    await docker("exec", worker.name, "systemctl", "enable", "--now", "consul", "nomad");
    await waitForNode(worker.name);
    const back = await elmInfra(["deploy", `ingress@${traefikVersion}`, "--yes"]);
    expect(back.exitCode, errorOf(back)).toBe(0);
    const status = await elmInfra(["status"]);
    const cluster = resultOf<{ cluster: ClusterView }>(status).cluster;
    expect(cluster.checks.filter((c) => !c.ok)).toEqual([]);
    expect(await viaLoadBalancer("elm-lang.org", "/")).toBe(200);
    expect(await viaLoadBalancer("package.elm-lang.org", "/health")).toBe(200);
  });
}
