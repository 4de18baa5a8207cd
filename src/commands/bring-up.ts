import { withOperationsLock } from "../cluster/operations-lock.js";
import { removeTerraformWorkDir, terraformWorkDirExists } from "../cluster/terraform.js";
import { describePlan, type PlanSummary } from "../plan/bring-up.js";
import {
  applyInfrastructure,
  changesOf,
  convergeHostSteps,
  ensureSshKey,
  lookForGoneHosts,
  forgetDeadHosts,
  generateSecrets,
  checkRegistry,
  checkVpcRange,
  planInfrastructure,
  type BringUpRun,
  type RestoredState,
} from "../tasks/bring-up.js";
import { recoverLostManagers, workersReachNewManagers } from "../tasks/cluster-restore.js";
import { type CommandContext, lockWaitOf } from "../tasks/context.js";
import { singleOperatorWarning } from "../tasks/shared-state.js";
import { lacksClusterSecrets } from "../plan/shared-secrets.js";
import { needed, runSteps } from "../tasks/runner.js";
import type { ClusterView } from "../tasks/verify.js";

export interface BringUpResult {
  target: string;
  /** planned: --dry-run; unchanged: a healthy cluster, nothing done; brought-up: something changed. */
  outcome: "planned" | "unchanged" | "brought-up";
  plan: PlanSummary | null;
  /** Recorded hosts found gone, forgotten and replaced by new hosts (new numbers). */
  deadHosts: Array<{ host: string; why: string }>;
  /** Every manager was lost: the snapshot pair the new managers' state was restored from. */
  restoredFrom: RestoredState | null;
  /** What this run changed, one line each; empty when nothing did. */
  changes: string[];
  /** Ansible's `changed` count per host. */
  ansibleChanged: Record<string, number>;
  cluster: ClusterView | null;
}

/**
 * `bring-up`: OpenTofu plan → confirm → secrets → apply → inventory → SSH → host keys → Ansible →
 * verify → ingress → verify again. When every manager is lost, new ones get the cluster's state
 * back from its newest snapshots right after the apply (tasks/cluster-restore.ts). cluster.yaml says what should exist; run again after a failure
 * at any step, it continues; on a healthy cluster it changes nothing and says so.
 */
export async function bringUp(ctx: CommandContext): Promise<BringUpResult> {
  const config = await ctx.loadConfig();
  const run: BringUpRun = { config, trustOnFirstUse: new Set() };
  const steps = { output: ctx.output, signal: ctx.signal };
  const result = (outcome: BringUpResult["outcome"]): BringUpResult => ({
    target: config.targetName,
    outcome,
    plan: run.plan ?? null,
    deadHosts: run.deadHosts ?? [],
    restoredFrom: run.restoredFrom ?? null,
    changes: changesOf(run),
    ansibleChanged: run.ansibleChanged ?? {},
    cluster: run.view ?? null,
  });
  // the first bring-up of a target without a store (no secrets yet) says what that means, once
  if (!config.target.store && lacksClusterSecrets(config.secrets))
    ctx.output.warn(singleOperatorWarning(config.targetName));
  const onLost = (m: string) => ctx.output.warn(m);
  const hadWorkDir = await terraformWorkDirExists(config);
  return withOperationsLock(
    config,
    "bring-up",
    { onLost: onLost, ...lockWaitOf(ctx) },
    async () => {
      await runSteps(
        [
          checkRegistry(),
          checkVpcRange(),
          ensureSshKey({ dryRun: ctx.options.dryRun }),
          planInfrastructure(),
          lookForGoneHosts(),
        ],
        run,
        steps,
      );
      const confirming = "Confirm the plan";
      const tf = needed(run, "tf", confirming);
      const planned = needed(run, "planResult", confirming);
      if (ctx.options.dryRun) {
        await tf.discardPlan(planned.planFile);
        // only planned: a working folder this run made goes (the lock then takes the target's)
        if (!hadWorkDir) await removeTerraformWorkDir(tf);
        return result("planned");
      }
      if (planned.hasChanges) {
        await ctx
          .confirm(
            `change the machines of target ${config.targetName}: ${[...deadLines(run), describePlan(needed(run, "plan", confirming))].join("; ")}`,
          )
          .catch(async (error: unknown) => {
            await tf.discardPlan(planned.planFile);
            throw error;
          });
      }
      await runSteps(
        [
          generateSecrets(),
          forgetDeadHosts(),
          applyInfrastructure(),
          ...recoverLostManagers(),
          ...convergeHostSteps({ afterAnsible: [workersReachNewManagers()] }),
        ],
        run,
        steps,
      );
      return result(changesOf(run).length > 0 ? "brought-up" : "unchanged");
    },
  );
}

const deadLine = (d: { host: string; why: string }) =>
  `${d.host} is gone (${d.why}): it is forgotten and a new host replaces it`;
const deadLines = (run: BringUpRun) =>
  run.managersLost
    ? [
        `every manager is lost (${run.managersLost.why}): new managers are made and the cluster's state is restored from its newest snapshots`,
      ]
    : (run.deadHosts ?? []).map(deadLine);

export function formatBringUp(r: BringUpResult, format: (v: ClusterView) => string): string {
  if (r.outcome === "planned")
    return `plan for target ${r.target} (dry run, nothing changed): ${[...r.deadHosts.map(deadLine), r.plan ? describePlan(r.plan) : "?"].join("; ")}`;
  const head =
    r.outcome === "unchanged"
      ? `target ${r.target}: no change - the machines, their configuration and the ingress already match cluster.yaml`
      : `target ${r.target} brought up:\n${r.changes.map((c) => `  ${c}`).join("\n")}`;
  return r.cluster ? `${head}\n${format(r.cluster)}` : head;
}
