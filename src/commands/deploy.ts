import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import {
  acquireLock,
  deployLockKey,
  describeLockHolder,
  lockHolder,
  type HeldLock,
} from "../consul/lock.js";
import { ConflictError, ElmInfraError, InterruptedError, OperationError } from "../errors.js";
import { summarizePlan, type PlanSummary } from "../nomad/deployment.js";
import { renderServiceJob } from "../plan/jobs.js";
import { revertSteps, rolloutSteps, type RolloutState } from "../tasks/rollout.js";
import { runSteps } from "../tasks/runner.js";
import { connectToCluster } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";

export interface DeployResult {
  service: string;
  version: string;
  previousVersion: string | null;
  outcome: "deployed" | "unchanged" | "planned";
  jobVersion: number | null;
  deploymentId: string | null;
  plan: PlanSummary | null;
  timings: Record<string, number>;
}

export interface DeployState extends RolloutState {
  hcl?: string;
  summary?: PlanSummary;
  planIndex?: number;
  previousVersion?: string;
  lock?: HeldLock;
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
  const ref = requireVersion(parseServiceRef(arg, Object.keys((await ctx.loadCluster()).services)));
  const config = await ctx.loadConfig();
  const apis = await connectToCluster(config, options);
  const state: DeployState = { config, ref, apis };
  const started = Date.now();
  const timings: Record<string, number> = {};
  const result = (outcome: DeployResult["outcome"]): DeployResult => ({
    service: ref.service,
    version: ref.version,
    previousVersion: state.previousVersion ?? null,
    outcome,
    jobVersion: state.jobVersion ?? null,
    deploymentId: state.deployment?.ID ?? null,
    plan: state.summary ?? null,
    timings: { ...timings, total: Date.now() - started },
  });
  const run = { output: ctx.output, signal: ctx.signal };
  try {
    let t = Date.now();
    await runSteps<DeployState>(
      [
        {
          title: `Render the ${ref.service} job for ${ref.version}`,
          run: async (s) => void (s.hcl = await renderServiceJob(config, ref)),
        },
        {
          title: "Validate the job with Nomad",
          run: async (s) => void (s.job = await apis.nomad.parseJob(s.hcl!)),
        },
        {
          title: "Plan the change",
          async run(s, step) {
            const current = await apis.nomad.readJob(ref.service);
            s.previousVersion = current?.Meta?.version;
            await refuseIfDeploying(apis, ref.service);
            const plan = await apis.nomad.planJob(s.job!);
            s.planIndex = plan.JobModifyIndex;
            s.summary = summarizePlan(plan);
            step.log(`running now: ${s.previousVersion ?? "nothing"}; deploying: ${ref.version}`);
            for (const line of s.summary.lines) step.log(line);
          },
        },
      ],
      state,
      run,
    );
    timings.plan = Date.now() - t;
    if (state.summary!.unchanged) {
      ctx.output.info(`${ref.service}@${ref.version} is already deployed: nothing to do`);
      return result("unchanged");
    }
    if (ctx.options.dryRun) return result("planned");
    await ctx.confirm(
      `deploy ${ref.service}@${ref.version} (now ${state.previousVersion ?? "not deployed"}) to target ${config.targetName}`,
    );

    t = Date.now();
    await runSteps<DeployState>(
      [
        {
          title: "Take the cluster-wide deploy lock",
          run: async (s) =>
            void (s.lock = await acquireLock(
              apis.consul,
              deployLockKey,
              lockHolder(`deploy ${ref.service}@${ref.version}`),
            )),
        },
        {
          title: "Submit the job (only if unchanged since the plan)",
          async run(s, step) {
            const registered = await apis.nomad.registerJob(s.job!, s.planIndex!);
            const job = await apis.nomad.readJob(ref.service);
            s.jobVersion = job?.Version ?? 0;
            step.log(`job version ${s.jobVersion}, evaluation ${registered.EvalID.slice(0, 8)}`);
          },
        },
      ],
      state,
      run,
    );
    timings.submit = Date.now() - t;
    t = Date.now();
    try {
      await runSteps(rolloutSteps(), state, run);
    } catch (error) {
      timings.rollout = Date.now() - t;
      await revertAfter(ctx, state, error);
    }
    timings.rollout = Date.now() - t;
    return result("deployed");
  } finally {
    await state.lock?.release().catch((e: Error) => ctx.output.warn(e.message));
    await apis.close();
  }
}

/**
 * Another deploy holding the lock, or a deployment still in progress (someone else's, or one
 * whose deployer died), would make this plan meaningless: refuse, naming the lock holder. The
 * lock is checked first: between another deploy's register and Nomad creating its deployment,
 * the plan alone would wrongly say "already deployed".
 */
async function refuseIfDeploying(apis: DeployState["apis"], service: string): Promise<void> {
  const holder = await describeLockHolder(apis.consul, deployLockKey);
  if (holder) {
    throw new ConflictError(
      `another deploy is under way: ${deployLockKey} is locked by ${holder}`,
      "wait for it to finish, then run again",
    );
  }
  const { data: latest } = await apis.nomad.latestDeployment(service);
  if (!latest || !["running", "pending", "paused", "initializing"].includes(latest.Status)) return;
  // An unpromoted canary never reaches its progress deadline: such a deployment waits forever.
  throw new ConflictError(
    `a deployment of ${service} is in progress (deployment ${latest.ID.slice(0, 8)}, job version ${latest.JobVersion}: ${latest.StatusDescription || latest.Status})`,
    `wait for it to finish; if nobody is deploying any more, end it (Nomad reverts): nomad deployment fail ${latest.ID}`,
  );
}

/** Reverts after a failed rollout and rethrows what went wrong, with what now serves. */
async function revertAfter(
  ctx: CommandContext,
  state: DeployState,
  error: unknown,
): Promise<never> {
  const reason = error instanceof Error ? error.message : String(error);
  ctx.output.warn(`${state.ref.service}@${state.ref.version} failed: reverting`);
  // A Ctrl-C still reverts: the revert gets its own signal (a second Ctrl-C quits at once).
  const revertSignal = new AbortController().signal;
  try {
    await runSteps(revertSteps(state.previousVersion), state, {
      output: ctx.output,
      signal: revertSignal,
    });
  } catch (revertError) {
    throw new OperationError(
      `${reason}\nthe revert did not complete either: ${(revertError as Error).message}`,
      "check `elm-infra status`; the lock has been released",
    );
  }
  if (error instanceof InterruptedError) throw error;
  const now = state.previousVersion
    ? `${state.previousVersion} still serves`
    : "nothing was serving before";
  if (error instanceof ConflictError) throw error;
  throw new OperationError(
    `deploy of ${state.ref.service}@${state.ref.version} failed and was reverted (${now}): ${reason}`,
    error instanceof ElmInfraError ? error.hint : undefined,
  );
}
