import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import { summarizeJobPlan, type JobPlanSummary } from "../nomad/deployment.js";
import { renderServiceJob } from "../plan/jobs.js";
import {
  refuseIfDeploying,
  releasingLock,
  rollOutOrRevert,
  takeDeployLockStep,
  type RolloutState,
} from "../tasks/rollout.js";
import { needed, runSteps, StepTimings, type StepTiming } from "../tasks/runner.js";
import { withCluster } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";
import { readInventory, type Inventory } from "../cluster/inventory.js";
import { packageDataHostOf, scheduleBackups, shipExportImage } from "../tasks/package-data.js";

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

export interface DeployState extends RolloutState {
  hcl?: string;
  /** The hosts, and the worker holding the service's data (its job is pinned there). */
  inventory?: Inventory;
  dataHost?: string;
  summary?: JobPlanSummary;
  planIndex?: number;
  previousVersion?: string;
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
  return withCluster(config, options, async (apis) => {
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
    await runSteps<DeployState>(
      [
        {
          title: `Find the worker that holds ${ref.service}'s data`,
          skip: () => (config.services[ref.service]?.data ? false : "the service keeps no data"),
          async run(s, step) {
            s.inventory = await readInventory(config);
            s.dataHost = packageDataHostOf(config, s.inventory, ref.service);
            step.log(s.dataHost ? `pinned to ${s.dataHost}` : "no inventory: not pinned");
          },
        },
        {
          title: `Render the ${ref.service} job for ${ref.version}`,
          gives: ["hcl"],
          run: async (s) =>
            void (s.hcl = await renderServiceJob(config, ref, { dataNode: s.dataHost })),
        },
        {
          title: "Validate the job with Nomad",
          needs: ["hcl"],
          gives: ["job"],
          run: async (s) =>
            void (s.job = await apis.nomad.parseJob(needed(s, "hcl", "Validate the job"))),
        },
        {
          title: "Plan the change",
          needs: ["job"],
          gives: ["previousVersion", "planIndex", "summary"],
          async run(s, step) {
            const current = await apis.nomad.readJob(ref.service);
            s.previousVersion = current?.Meta?.version;
            const plan = await apis.nomad.planJob(needed(s, "job", "Plan the change"));
            // After the plan, not before: a deploy that took the lock and registered between a
            // check and this plan would make the plan look "unchanged" while it is still rolling.
            await refuseIfDeploying(apis, ref.service);
            s.planIndex = plan.JobModifyIndex;
            s.summary = summarizeJobPlan(plan);
            step.log(`running now: ${s.previousVersion ?? "nothing"}; deploying: ${ref.version}`);
            for (const line of s.summary.lines) step.log(line);
          },
        },
      ],
      state,
      { ...run, phase: "plan" },
    );
    if (needed(state, "summary", "Confirm the deploy").unchanged) {
      ctx.output.info(`${ref.service}@${ref.version} is already deployed: nothing to do`);
      return result("unchanged");
    }
    if (ctx.options.dryRun) return result("planned");
    await ctx.confirm(
      `deploy ${ref.service}@${ref.version} (now ${state.previousVersion ?? "not deployed"}) to target ${config.targetName}`,
    );

    return await releasingLock(state, ctx.output, async () => {
      await runSteps<DeployState>(
        [
          takeDeployLockStep(`deploy ${ref.service}@${ref.version}`),
          {
            title: "Ship the backup export's image to the workers",
            skip: (s) => (s.dataHost && s.inventory ? false : "the service keeps no data"),
            run: (s, step) =>
              shipExportImage(config, needed(s, "inventory", "Ship the export's image"), (l) =>
                step.log(l),
              ),
          },
          {
            title: "Submit the job (only if unchanged since the plan)",
            needs: ["job", "planIndex"],
            gives: ["jobVersion"],
            async run(s, step) {
              const registered = await apis.nomad.registerJob(
                needed(s, "job", "Submit the job"),
                needed(s, "planIndex", "Submit the job"),
              );
              const job = await apis.nomad.readJob(ref.service);
              s.jobVersion = job?.Version ?? 0;
              step.log(`job version ${s.jobVersion}, evaluation ${registered.EvalID.slice(0, 8)}`);
            },
          },
        ],
        state,
        { ...run, phase: "submit" },
      );
      await rollOutOrRevert(state, {
        ...run,
        what: `deploy of ${ref.service}@${ref.version}`,
        previousVersion: state.previousVersion,
      });
      await runSteps<DeployState>(
        [
          {
            title: `Schedule ${ref.service}'s data backups`,
            skip: (s) => (s.dataHost ? false : "the service keeps no data"),
            run: async (s, step) =>
              step.log(
                await scheduleBackups(
                  config,
                  apis,
                  ref.service,
                  needed(s, "dataHost", "Schedule the backups"),
                ),
              ),
          },
        ],
        state,
        { ...run, phase: "rollout" },
      );
      return result("deployed");
    });
  });
}
