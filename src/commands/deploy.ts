import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import type { JobPlanSummary } from "../nomad/deployment.js";
import { deploySteps, type DeployState } from "../tasks/deploy.js";
import { releasingLock, rollOutOrRevert } from "../tasks/rollout.js";
import { needed, runSteps, StepTimings, type StepTiming } from "../tasks/runner.js";
import { withCluster } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";

export interface DeployResult {
  service: string;
  version: string;
  previousVersion: string | null;
  outcome: "deployed" | "unchanged" | "planned";
  jobVersion: number | null;
  deploymentId: string | null;
  plan: JobPlanSummary | null;
  /** Milliseconds per phase (plan, submit, rollout) and in all (total), as the runner measured. */
  timings: Record<string, number>;
  /** Each step's duration. */
  steps: StepTiming[];
}

/**
 * `deploy <service>@<version>`: render → parse by Nomad → plan → confirm → lock → register with
 * EnforceIndex → canary → Traefik proof → promote → all healthy → every hostname proven. Any
 * failure after the job was submitted fails the deployment so Nomad reverts, and proves the
 * previous version still serves.
 */
export async function deploy(
  ctx: CommandContext,
  arg: string,
  options: { onNomadRequest?: (method: string, path: string) => void } = {},
): Promise<DeployResult> {
  const timings = new StepTimings();
  const ref = requireVersion(parseServiceRef(arg, Object.keys((await ctx.loadCluster()).services)));
  const config = await ctx.loadConfig();
  return withCluster(config, { ...options, signal: ctx.signal }, async (apis) => {
    const state: DeployState = { config, ref, apis };
    const result = (outcome: DeployResult["outcome"]): DeployResult => ({
      service: ref.service,
      version: ref.version,
      previousVersion: state.previousVersion ?? null,
      outcome,
      jobVersion: state.jobVersion ?? null,
      deploymentId: state.deployment?.ID ?? null,
      plan: state.summary ?? null,
      timings: timings.byPhase(),
      steps: timings.steps,
    });
    const run = { output: ctx.output, signal: ctx.signal, timings };
    const steps = deploySteps(ref);
    await runSteps(steps.plan, state, { ...run, phase: "plan" });
    if (needed(state, "summary", "Confirm the deploy").unchanged) {
      ctx.output.info(`${ref.service}@${ref.version} is already deployed: nothing to do`);
      return result("unchanged");
    }
    if (ctx.options.dryRun) return result("planned");
    await ctx.confirm(
      `deploy ${ref.service}@${ref.version} (now ${state.previousVersion ?? "not deployed"}) to target ${config.targetName}`,
    );

    return await releasingLock(state, ctx.output, async () => {
      await runSteps(steps.submit, state, { ...run, phase: "submit" });
      await rollOutOrRevert(state, {
        ...run,
        what: `deploy of ${ref.service}@${ref.version}`,
        previousVersion: state.previousVersion,
      });
      await runSteps(steps.afterRollout, state, { ...run, phase: "rollout" });
      return result("deployed");
    });
  });
}
