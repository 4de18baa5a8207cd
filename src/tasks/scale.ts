/**
 * Changing which hosts a target has, as scale and replace do: judge the cluster first (refuse
 * when degraded), grow with bring-up's own steps, then retire and destroy one host at a time,
 * each followed by bring-up's checks.
 */
import type { LoadedConfig } from "../config/load.js";
import { OperationError, UsageError } from "../errors.js";
import { forgetHostKeys, knownHostName } from "../ssh/index.js";
import { describeEvent } from "../terraform/events.js";
import { withCluster } from "../cluster/connect.js";
import { readInventory, workersOf, writeInventory } from "../cluster/inventory.js";
import { targetPaths } from "../cluster/paths.js";
import {
  countsOf,
  inventoryFromOutputs,
  prepareTerraform,
  withCounts,
} from "../cluster/terraform.js";
import { summarizePlan, type TofuPlanJson } from "../plan/bring-up.js";
import { parseHostName, type HostRole } from "../plan/hosts.js";
import type { ScalePlan } from "../plan/scale.js";
import { refuseUnlessHealthy } from "../plan/scale.js";
import { verifyCluster } from "../plan/verify.js";
import {
  applyInfrastructure,
  convergeHostSteps,
  ensureSshKey,
  generateSecrets,
  planInfrastructure,
  proveClusterHealthy,
  type BringUpRun,
} from "./bring-up.js";
import { describeMove, movePackageData } from "./package-data.js";
import { retireManager, retireWorker } from "./retire.js";
import { needed, runSteps, type RunOptions, type Step } from "./runner.js";
import { shareTargetFiles } from "./shared-state.js";
import { clusterView, observeCluster, type ClusterView } from "./verify.js";

/** What the steps of a host change share. */
export interface HostChangeRun extends BringUpRun {
  /** The hosts destroyed so far, in order. */
  removed: string[];
  /** Package data moved off a retiring worker: from, to, and how long the site was down. */
  packageDataMoves: Array<{ from: string; to: string; downMs: number; readsServed: boolean }>;
}

/** What scale and replace report: the hosts that came and went, the counts now, the cluster. */
export interface HostChangeOutcome {
  created: string[];
  removed: string[];
  managers: number;
  workers: number;
  packageDataMoves: HostChangeRun["packageDataMoves"];
  cluster: ClusterView | null;
}

export function hostChangeOutcome(run: HostChangeRun, planned: string[]): HostChangeOutcome {
  return {
    created: planned.filter((h) =>
      needed(run, "inventory", "scale").hosts.some((x) => x.name === h),
    ),
    removed: run.removed,
    ...countsOf(needed(run, "inventory", "scale")),
    packageDataMoves: run.packageDataMoves,
    cluster: run.view ?? null,
  };
}

/** The summary's lines for package data moved off retiring workers. */
export const formatMoves = (moves: HostChangeRun["packageDataMoves"]) =>
  moves.map((m) => `\n  package data moved ${m.from} -> ${m.to} (${describeMove(m)})`).join("");

export function newHostChangeRun(config: LoadedConfig): HostChangeRun {
  return { config, trustOnFirstUse: new Set(), removed: [], packageDataMoves: [] };
}

/**
 * The inventory bring-up recorded and one look at the cluster through it; a cluster that is not
 * healthy now is refused (exit 3) with what is degraded, before anything changes.
 */
export function judgeClusterNow(command: string): Step<HostChangeRun> {
  return {
    title: "Check that the cluster is healthy now",
    gives: ["inventory", "view"],
    run: async (run, step) => {
      const inventory = await readInventory(run.config);
      if (!inventory || inventory.hosts.length === 0) {
        throw new UsageError(
          `target ${run.config.targetName} has no hosts yet`,
          `bring it up first: elm-infra bring-up --target ${run.config.targetName}`,
        );
      }
      run.inventory = inventory;
      const view = await withCluster(run.config, { signal: step.signal }, async (apis) => {
        const observed = await observeCluster(run.config, apis, inventory);
        const verdict = verifyCluster(inventory, observed);
        const seen = clusterView(run.config, inventory, observed, verdict);
        run.view = seen;
        refuseUnlessHealthy(run.config.targetName, command, verdict);
        return seen;
      });
      step.log(`${inventory.hosts.length} hosts, ${view.checks.length} checks passed`);
    },
  };
}

/** New hosts: bring-up's own steps from the plan on, with these counts (the growth phase). */
export function growSteps(): Step<HostChangeRun>[] {
  return [
    ensureSshKey(),
    planInfrastructure(),
    generateSecrets(),
    applyInfrastructure(),
    ...convergeHostSteps(),
  ];
}

/** One host out of the cluster, then its machine destroyed, then bring-up's checks again. */
export function removeHostSteps(host: string): Step<HostChangeRun>[] {
  return [
    retireHost(host),
    destroyHost(host),
    proveClusterHealthy({ requireIngress: true }),
    shareTargetFiles(),
  ];
}

/**
 * A worker: out of the load balancer, drained, its agents gone (its package data moved first
 * when it holds it). A manager: leaves Nomad's and Consul's raft gracefully, quorum kept.
 */
export function retireHost(host: string): Step<HostChangeRun> {
  return {
    title: `Retire ${host}`,
    needs: ["inventory"],
    run: async (run, step) => {
      const inventory = needed(run, "inventory", "scale");
      const role = inventory.hosts.find((h) => h.name === host)?.role;
      if (!role) throw new OperationError(`${host} is not in the inventory of the target`);
      await withCluster(run.config, { avoid: [host], signal: step.signal }, async (apis) => {
        const options = {
          config: run.config,
          inventory,
          host,
          apis,
          log: (l: string) => step.log(l),
          signal: step.signal,
        };
        if (role === "manager") {
          await retireManager(options);
          return;
        }
        const to = workersOf(inventory).find((w) => w.name !== host)?.name;
        await retireWorker({
          ...options,
          ...(inventory.packageDataHost === host && to
            ? {
                onBeforeDrain: async (_: string, startDrain: () => void) => {
                  const move = await movePackageData({
                    ...options,
                    from: host,
                    to,
                    onLeftFrom: startDrain,
                  });
                  const moved = {
                    from: host,
                    to,
                    downMs: move.downMs,
                    readsServed: move.readsServed,
                  };
                  run.packageDataMoves.push(moved);
                  step.log(`package data moved from ${host} to ${to}: ${describeMove(moved)}`);
                },
              }
            : {}),
        });
      });
    },
  };
}

/**
 * OpenTofu without the host (its machine and volumes), refused when the plan would touch any
 * other host; then the inventory rewritten and the host's pinned key forgotten.
 */
export function destroyHost(host: string): Step<HostChangeRun> {
  return {
    title: `Destroy ${host} (OpenTofu)`,
    needs: ["inventory"],
    run: async (run, step) => {
      const before = needed(run, "inventory", "scale");
      const gone = before.hosts.find((h) => h.name === host)!;
      const counts = countsOf(before);
      counts[gone.role === "manager" ? "managers" : "workers"] -= 1;
      const { tf, hostPlan } = await prepareTerraform(withCounts(run.config, counts), {
        remove: [host],
        onEvent: (e) => {
          const line = describeEvent(e);
          if (line) step.log(line);
        },
        signal: step.signal,
      });
      const plan = await tf.plan();
      const summary = summarizePlan((await tf.showPlan(plan.planFile)) as TofuPlanJson);
      const { create, replace, destroy } = summary.hosts;
      if (create.length + replace.length > 0 || destroy.join() !== host) {
        await tf.discardPlan(plan.planFile);
        throw new OperationError(
          `OpenTofu's plan to remove ${host} would also change other hosts (create ${create.join(", ") || "none"}, replace ${replace.join(", ") || "none"}, destroy ${destroy.join(", ") || "none"}); nothing was applied`,
          "run bring-up to converge the machines with cluster.yaml first, then run again",
        );
      }
      const applied = await tf.apply(plan.planFile);
      step.log(`${applied.remove} destroyed, ${applied.change} changed`);
      const after = inventoryFromOutputs(run.config.targetName, await tf.outputs());
      if (hostPlan.packageDataHost) after.packageDataHost = hostPlan.packageDataHost;
      run.inventory = after;
      await writeInventory(run.config, after);
      await forgetHostKeys(targetPaths(run.config).knownHosts, [
        knownHostName(gone.ssh.host, gone.ssh.port),
      ]);
      run.removed.push(host);
    },
  };
}

/**
 * Grows first (all new hosts in one apply, with every host that goes still there), then removes
 * the hosts one at a time: the runbook scale and replace share.
 */
export async function changeHosts(
  run: HostChangeRun,
  plan: Pick<ScalePlan, "create" | "remove">,
  steps: RunOptions,
): Promise<void> {
  const config = run.config;
  if (plan.create.length > 0) {
    const now = countsOf(needed(run, "inventory", "scale"));
    const more = (role: HostRole) =>
      plan.create.filter((h) => parseHostName(config.targetName, h)?.role === role).length;
    run.config = withCounts(config, {
      managers: now.managers + more("manager"),
      workers: now.workers + more("worker"),
    });
    await runSteps(growSteps(), run, steps);
    run.config = config;
  }
  for (const host of plan.remove) await runSteps(removeHostSteps(host), run, steps);
}
