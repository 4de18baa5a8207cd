import { withOperationsLock } from "../cluster/operations-lock.js";
import { readInventory, requireInventory } from "../cluster/inventory.js";
import { planReplace, type ReplacePlan } from "../plan/scale.js";
import { type CommandContext, lockWaitOf } from "../tasks/context.js";
import { runSteps } from "../tasks/runner.js";
import {
  changeHosts,
  formatMoves,
  hostChangeOutcome,
  judgeClusterNow,
  newHostChangeRun,
  type HostChangeOutcome,
} from "../tasks/scale.js";
import type { ClusterView } from "../tasks/verify.js";

export interface ReplaceResult extends HostChangeOutcome {
  target: string;
  /** planned: --dry-run; replaced: the new host joined and the old one is gone. */
  outcome: "planned" | "replaced";
  plan: ReplacePlan;
}

/**
 * `replace <host>`: the retire-a-VM runbook in one command. A new host of the same role (a new
 * number, so a new Nomad and Consul node) is created and joined first, as scale does, then the
 * old one leaves as in a scale down and is destroyed. cluster.yaml's counts do not change.
 */
export async function replace(ctx: CommandContext, host: string): Promise<ReplaceResult> {
  const config = await ctx.loadConfig();
  planReplace(
    config.targetName,
    (await requireInventory(config)).hosts.map((h) => h.name),
    host,
  );
  const run = newHostChangeRun(config);
  const warn = (m: string) => ctx.output.warn(m);
  return withOperationsLock(config, "replace", { onLost: warn, ...lockWaitOf(ctx) }, async () => {
    const existing = (await readInventory(config))?.hosts.map((h) => h.name) ?? [];
    const plan = planReplace(config.targetName, existing, host);
    const steps = { output: ctx.output, signal: ctx.signal };
    await runSteps([judgeClusterNow("replace")], run, steps);
    const line = `replace ${host} with ${plan.create[0]} (created and joined first, then ${host} retired and destroyed)`;
    ctx.output.info(`plan: ${line}`);
    const result = (outcome: ReplaceResult["outcome"]): ReplaceResult => ({
      target: config.targetName,
      outcome,
      plan,
      ...hostChangeOutcome(run, plan.create),
    });
    if (ctx.options.dryRun) return result("planned");
    await ctx.confirm(line);
    await changeHosts(run, plan, steps);
    return result("replaced");
  });
}

export function formatReplace(r: ReplaceResult, format: (v: ClusterView) => string): string {
  if (r.outcome === "planned")
    return `plan for target ${r.target} (dry run, nothing changed): replace ${r.plan.host} with ${r.plan.create[0]}`;
  const head = `target ${r.target}: ${r.plan.host} replaced by ${r.plan.create[0]}${formatMoves(r.packageDataMoves)}`;
  return r.cluster ? `${head}\n${format(r.cluster)}` : head;
}
