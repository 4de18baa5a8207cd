import { withOperationsLock } from "../cluster/operations-lock.js";
import { withCluster } from "../cluster/connect.js";
import { readInventory, requireInventory } from "../cluster/inventory.js";
import { isHostServer } from "../plan/retire.js";
import { planReboots, type RebootPlan } from "../plan/reboot.js";
import { describePackageChanges } from "../plan/package-upgrades.js";
import { PackageUpgradeError } from "../errors.js";
import { proveClusterHealthy, proveServices, spreadServices } from "../tasks/bring-up.js";
import { type CommandContext, lockWaitOf } from "../tasks/context.js";
import { describeMove } from "../tasks/package-data.js";
import {
  cycleManager,
  cycleWorker,
  hostsNeedingReboot,
  rebootAction,
  type HostCycled,
} from "../tasks/host-cycle.js";
import { needed, runSteps, type Step } from "../tasks/runner.js";
import { judgeClusterNow, newHostChangeRun, type HostChangeRun } from "../tasks/scale.js";
import type { ClusterView } from "../tasks/verify.js";

export interface RebootFlags {
  all: boolean;
  allowApiOutage: boolean;
  /** Debian's security upgrades on each host before its reboot. */
  upgradePackages: boolean;
}

export interface RebootResult {
  target: string;
  /** planned: --dry-run; nothing: no host asked for a reboot; rebooted: each host in order. */
  outcome: "planned" | "nothing" | "rebooted";
  plan: RebootPlan;
  /** --upgrade-packages: each host's security upgrades before its reboot (`packages` of each). */
  upgradePackages: boolean;
  rebooted: HostCycled[];
  /** Allocations moved afterwards to spread the services over the workers again. */
  respread: string[];
  cluster: ClusterView | null;
}

interface RebootRun extends HostChangeRun {
  rebooted: HostCycled[];
}

/**
 * `reboot [host...]`: refuse a degraded cluster, plan the order (workers, then the managers'
 * followers, the leader last), confirm, then reboot one host at a time, each proven before the
 * next; afterwards spread the services over the workers again and prove the cluster and the sites.
 */
export async function reboot(
  ctx: CommandContext,
  named: string[],
  flags: RebootFlags,
): Promise<RebootResult> {
  const config = await ctx.loadConfig();
  const inventory = await requireInventory(config);
  // The request's own mistakes are refused before the lock and before any host is asked.
  planReboots({
    target: config.targetName,
    hosts: inventory.hosts.map((h) => ({ name: h.name, role: h.role, needsReboot: false })),
    named,
    all: flags.all,
    allowApiOutage: true,
    leaders: [],
  });
  const run: RebootRun = { ...newHostChangeRun(config), rebooted: [] };
  const steps = { output: ctx.output, signal: ctx.signal };
  return withOperationsLock(
    config,
    "reboot",
    { onLost: (m) => ctx.output.warn(m), ...lockWaitOf(ctx) },
    async () => {
      await runSteps([judgeClusterNow("reboot")], run, steps);
      const now = needed(run, "inventory", "reboot");
      const plan = await withCluster(config, { signal: ctx.signal }, async (apis) => {
        const leaders = [
          ...(await apis.nomad.raftConfiguration()).Servers,
          ...(await apis.consul.raftConfiguration()).Servers,
        ]
          .filter((s) => s.Leader)
          .flatMap((s) => now.hosts.filter((h) => isHostServer(s, h)).map((h) => h.name));
        const needing =
          named.length === 0 && !flags.all
            ? await hostsNeedingReboot(config, now, ctx.signal)
            : new Set<string>();
        return planReboots({
          target: config.targetName,
          hosts: now.hosts.map((h) => ({
            name: h.name,
            role: h.role,
            needsReboot: needing.has(h.name),
          })),
          named,
          all: flags.all,
          allowApiOutage: flags.allowApiOutage,
          leaders,
          dataHolder: now.packageDataHost,
        });
      });
      const line = describeRebootPlan(plan, flags);
      ctx.output.info(`plan: ${line}`);
      if (plan.apiOutage)
        ctx.output.warn(
          "the only manager reboots: Nomad's and Consul's APIs stop until it is back; the sites keep serving from the workers",
        );
      const result = (outcome: RebootResult["outcome"]): RebootResult => ({
        target: config.targetName,
        outcome,
        plan,
        upgradePackages: flags.upgradePackages,
        rebooted: run.rebooted,
        respread: run.respread ?? [],
        cluster: run.view ?? null,
      });
      if (plan.order.length === 0) return result("nothing");
      if (ctx.options.dryRun) return result("planned");
      await ctx.confirm(`reboot on target ${config.targetName}: ${line}`);
      await runSteps(
        [
          ...plan.order.map((s) => rebootStep(s.host, s.role, flags, plan)),
          spreadServices(),
          proveClusterHealthy({ requireIngress: true }),
          proveServices(),
        ],
        run,
        steps,
      );
      return result("rebooted");
    },
  );
}

/**
 * One host rebooted (its security upgrades first with --upgrade-packages) and proven; the
 * inventory read again after it (a holder's data moved).
 */
function rebootStep(
  host: string,
  role: "manager" | "worker",
  flags: RebootFlags,
  plan: RebootPlan,
): Step<RebootRun> {
  return {
    title: flags.upgradePackages ? `Security upgrades and reboot of ${host}` : `Reboot ${host}`,
    needs: ["inventory"],
    run: async (run, step) => {
      const o = {
        config: run.config,
        inventory: needed(run, "inventory", "reboot"),
        host,
        log: (l: string) => step.log(l),
        signal: step.signal,
        apiOutageAccepted: flags.allowApiOutage,
      };
      const action = rebootAction(flags);
      const done = await (
        role === "worker" ? cycleWorker(o, action) : cycleManager(o, action)
      ).catch((error: unknown) => {
        if (!(error instanceof PackageUpgradeError)) throw error;
        const at = plan.order.findIndex((s) => s.host === host);
        throw error.inRollout(
          run.rebooted.map((h) => h.host),
          plan.order.slice(at).map((s) => s.host),
        );
      });
      run.rebooted.push(done);
      run.inventory = (await readInventory(run.config)) ?? o.inventory;
      if (done.packageDataMoved)
        run.packageDataMoves.push({ from: host, ...done.packageDataMoved });
      step.log(`${host}: back in service after ${Math.round(done.durationMs / 1000)} s`);
    },
  };
}

export function describeRebootPlan(
  plan: RebootPlan,
  flags: Pick<RebootFlags, "upgradePackages">,
): string {
  if (plan.order.length === 0) return "no host asks for a reboot (/run/reboot-required)";
  const order = plan.order
    .map((s) => `${s.host}${s.leads ? " (leads: leadership handed over first)" : ""}`)
    .join(", then ");
  return flags.upgradePackages
    ? `${order}; on each, Debian's security upgrades (unattended-upgrade) before its reboot`
    : order;
}

export function formatReboot(r: RebootResult, format: (v: ClusterView) => string): string {
  if (r.outcome === "nothing")
    return `target ${r.target}: ${describeRebootPlan(r.plan, r)}; nothing rebooted (name hosts, or --all)`;
  if (r.outcome === "planned")
    return `reboot plan for target ${r.target} (dry run, nothing changed): ${describeRebootPlan(r.plan, r)}`;
  const lines = r.rebooted.map(
    (h) =>
      `  ${h.host}: ${h.packages ? `security upgrades: ${describePackageChanges(h.packages)}; ` : ""}rebooted, back in ${Math.round(h.durationMs / 1000)} s${h.packageDataMoved ? `; package data moved to ${h.packageDataMoved.to} (${describeMove(h.packageDataMoved)})` : ""}`,
  );
  const spread = r.respread.length > 0 ? [`  spread again: ${r.respread.join("; ")}`] : [];
  const head = [
    `target ${r.target}: ${r.rebooted.length} host(s) rebooted, one at a time`,
    ...lines,
    ...spread,
  ].join("\n");
  return r.cluster ? `${head}\n${format(r.cluster)}` : head;
}
