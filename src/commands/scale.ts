import { writeTargetCounts } from "../config/edit.js";
import { withOperationsLock } from "../cluster/operations-lock.js";
import { requireInventory } from "../cluster/inventory.js";
import type { LoadedConfig } from "../config/load.js";
import {
  checkRequestedCounts,
  describeScalePlan,
  planScale,
  type HostCounts,
  type ScalePlan,
} from "../plan/scale.js";
import { type CommandContext, lockWaitOf } from "../tasks/context.js";
import { needed, runSteps } from "../tasks/runner.js";
import {
  changeHosts,
  formatMoves,
  hostChangeOutcome,
  judgeClusterNow,
  newHostChangeRun,
  type HostChangeOutcome,
} from "../tasks/scale.js";
import type { ClusterView } from "../tasks/verify.js";

export interface ScaleResult extends HostChangeOutcome {
  target: string;
  /** planned: --dry-run; unchanged: the counts were already these; scaled: hosts changed. */
  outcome: "planned" | "unchanged" | "scaled";
  plan: ScalePlan;
}

/**
 * `scale --managers N --workers M`: refuse bad counts and a degraded cluster, plan, confirm,
 * record the counts in cluster.yaml, create the new hosts (bring-up's steps), then retire and
 * destroy the hosts that go, one at a time, verifying after each.
 */
export async function scale(
  ctx: CommandContext,
  requested: Partial<HostCounts>,
): Promise<ScaleResult> {
  const config = await ctx.loadConfig();
  checkRequestedCounts(config.targetName, requested);
  await requireInventory(config); // refused before the lock: a refusal leaves no state folder
  const run = newHostChangeRun(config);
  const steps = { output: ctx.output, signal: ctx.signal };
  const warn = (m: string) => ctx.output.warn(m);
  return withOperationsLock(config, "scale", { onLost: warn, ...lockWaitOf(ctx) }, async () => {
    await runSteps([judgeClusterNow("scale")], run, steps);
    const plan = planScale({
      target: config.targetName,
      configured: { managers: config.target.managers, workers: config.target.workers },
      requested,
      existing: needed(run, "inventory", "Plan the scale").hosts.map((h) => h.name),
      services: config.services,
    });
    ctx.output.info(`plan: ${describeScalePlan(plan)}`);
    for (const note of plan.notes) ctx.output.warn(note);
    const result = (outcome: ScaleResult["outcome"]): ScaleResult => ({
      target: config.targetName,
      outcome,
      plan,
      ...hostChangeOutcome(run, plan.create),
    });
    if (ctx.options.dryRun) return result("planned");
    if (plan.unchanged) {
      await recordCounts(config, plan.to);
      return result("unchanged");
    }
    await ctx.confirm(`scale target ${config.targetName}: ${describeScalePlan(plan)}`);
    // Recorded before any machine changes: an interrupted scale converges on the next run.
    await recordCounts(config, plan.to);
    await changeHosts(run, plan, steps);
    return result("scaled");
  });
}

/** cluster.yaml's counts, in the file and in the loaded configuration. */
async function recordCounts(config: LoadedConfig, counts: HostCounts): Promise<void> {
  await writeTargetCounts(config.file, config.targetName, counts);
  config.target = { ...config.target, ...counts };
}

export function formatScale(r: ScaleResult, format: (v: ClusterView) => string): string {
  const plan = describeScalePlan(r.plan);
  const notes = r.plan.notes.map((n) => `\n  note: ${n}`).join("");
  if (r.outcome === "planned")
    return `scale plan for target ${r.target} (dry run, nothing changed): ${plan}${notes}`;
  if (r.outcome === "unchanged")
    return `target ${r.target} already has ${r.managers} manager(s) and ${r.workers} worker(s): nothing changed`;
  const head = `target ${r.target} scaled to ${r.managers} manager(s) and ${r.workers} worker(s): created ${r.created.join(", ") || "none"}, removed ${r.removed.join(", ") || "none"}${formatMoves(r.packageDataMoves)}${notes}`;
  return r.cluster ? `${head}\n${format(r.cluster)}` : head;
}
