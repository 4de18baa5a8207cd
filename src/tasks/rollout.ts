import type { LoadedConfig } from "../config/load.js";
import { hostnamesOf } from "../config/load.js";
import type { ServiceRef } from "../config/service-ref.js";
import type { ClusterApis } from "../cluster/connect.js";
import {
  consulLock,
  deployLockKey,
  describeLockHolder,
  lockHolder,
  type HeldLock,
} from "../consul/lock.js";
import { releasingAfter, type ReleaseOptions } from "../lock.js";
import { ConflictError, ElmInfraError, OperationError } from "../errors.js";
import {
  canaryFailAfterMs,
  explainAllocation,
  deploymentDeadlineMs,
  isDeploymentActive,
  type DeploymentVerdict,
} from "../nomad/deployment.js";
import type { Deployment, NomadJob } from "../nomad/types.js";
import { requireDeployment, waitForDeploymentOf, watchDeployment } from "../nomad/watch.js";
import type { Output } from "../output/output.js";
import { consulServiceName } from "../plan/names.js";
import { servesHttps, splitWwwRedirects } from "../plan/tls.js";
import { verifyCanaryRoute, verifyHostnamesServe } from "../traefik/verify.js";
import { watchCanaryChecks } from "./canary-checks.js";
import { revertFailedRollout } from "./revert.js";
import { needed, runSteps, type RunOptions, type Step } from "./runner.js";

/**
 * One rollout, shared by deploy, rollback and the revert after a failure: watch the deployment
 * until a verdict, prove the canary through Traefik, promote, wait until every allocation is
 * healthy, prove every hostname serves the version. Each is a step factory over RolloutState.
 */
export interface RolloutState {
  config: LoadedConfig;
  /** The service and the version this rollout brings. */
  ref: ServiceRef;
  apis: ClusterApis;
  /** The job as submitted; its update block gives the deadlines. */
  job?: NomadJob;
  /** The job version Nomad gave the submitted job. */
  jobVersion?: number;
  deployment?: Deployment;
  hadCanary?: boolean;
  /** Nomad made no deployment for this job version (a revert in place): nothing to watch. */
  noDeployment?: boolean;
  /** The cluster-wide deploy lock, while held. */
  lock?: HeldLock;
}

function route(state: RolloutState) {
  const service = state.config.services[state.ref.service]!;
  const hostnames = hostnamesOf(state.config, state.ref.service);
  return {
    consulService: consulServiceName(state.ref.service),
    hostnames,
    healthPath: service.healthPath,
    version: state.ref.version,
    redirects: hostnameRedirects(state.config.target, hostnames),
  };
}

/**
 * Pure: on a target that serves HTTPS, `www.` hostnames whose apex is served answer with a
 * redirect to it (splitWwwRedirects); the dev agents' plain HTTP serves every hostname.
 */
export function hostnameRedirects(
  target: Parameters<typeof servesHttps>[0],
  hostnames: readonly string[],
): Record<string, string> {
  if (!servesHttps(target)) return {};
  return Object.fromEntries(
    splitWwwRedirects(hostnames).redirected.map((h) => [h, h.slice("www.".length)]),
  );
}

function deadline(state: RolloutState): number {
  return state.job ? deploymentDeadlineMs(state.job) : 10 * 60_000;
}

/** A verdict that ends the rollout, as an error with the failed allocations' events and logs. */
async function failWith(
  state: RolloutState,
  verdict: Exclude<DeploymentVerdict, { kind: "progressing" | "canaries-healthy" | "successful" }>,
): Promise<never> {
  const details = await inspectFailure(state);
  const what = `${state.ref.service}@${state.ref.version}`;
  const head =
    verdict.kind === "timed-out"
      ? `${what} did not finish in time: ${verdict.reason}`
      : `${what} did not become healthy: ${verdict.reason}`;
  throw new OperationError(
    `${head}${details.length ? `\n${details.map((d) => `  ${d}`).join("\n")}` : ""}`,
    verdict.kind === "timed-out"
      ? `the job's update.progressDeadline bounds the wait; see what Nomad is waiting for: nomad deployment status ${state.deployment?.ID ?? "<id>"}`
      : "the task events and logs above say why; more with: nomad alloc status <id>",
  );
}

function isFailure(
  verdict: DeploymentVerdict,
): verdict is Exclude<
  DeploymentVerdict,
  { kind: "progressing" | "canaries-healthy" | "successful" }
> {
  return verdict.kind === "failed" || verdict.kind === "unhealthy" || verdict.kind === "timed-out";
}

// ------------------------------------------------------------------------------------------
// Before the rollout: the lock, and nothing else under way

/** Takes the cluster-wide deploy lock for `command` (refused, exit 3, while someone holds it). */
export function takeDeployLockStep(command: string): Step<RolloutState> {
  return {
    title: "Take the cluster-wide deploy lock",
    gives: ["lock"],
    run: async (state) =>
      void (state.lock = await consulLock(
        state.apis.consul,
        deployLockKey,
        lockHolder(command),
      ).acquire()),
  };
}

/**
 * Another deploy holding the lock, or a deployment still in progress (someone else's, or one
 * whose deployer died), would make a plan meaningless: refuse, naming the lock holder. The lock
 * is checked first: between another deploy's register and Nomad creating its deployment, the
 * plan alone would wrongly say "already deployed".
 */
export async function refuseIfDeploying(apis: ClusterApis, service: string): Promise<void> {
  const underWay = (holder: string) =>
    new ConflictError(
      `another deploy is under way: ${deployLockKey} is locked by ${holder}`,
      "wait for it to finish, then run again",
    );
  const holder = await describeLockHolder(apis.consul, deployLockKey);
  if (holder) throw underWay(holder);
  try {
    await refuseIfDeploymentActive(apis, service);
  } catch (error) {
    // Another deploy may have taken the lock and registered between the two looks: its
    // deployment is not one nobody finishes, so name its holder, not `nomad deployment fail`.
    const now = await describeLockHolder(apis.consul, deployLockKey);
    throw now ? underWay(now) : error;
  }
}

/** Refuses while the service's latest deployment is still under way (exit 3). */
export async function refuseIfDeploymentActive(apis: ClusterApis, service: string): Promise<void> {
  const { data: latest } = await apis.nomad.latestDeployment(service);
  if (!latest || !isDeploymentActive(latest)) return;
  // An unpromoted canary never reaches its progress deadline: such a deployment waits forever.
  throw new ConflictError(
    `a deployment of ${service} is in progress (deployment ${latest.ID.slice(0, 8)}, job version ${latest.JobVersion}: ${latest.StatusDescription || latest.Status})`,
    `wait for it to finish; if nobody is deploying any more, end it (Nomad reverts): nomad deployment fail ${latest.ID}`,
  );
}

// ------------------------------------------------------------------------------------------
// The rollout's steps

/** Finds the deployment of the submitted job version and watches it to a healthy canary. */
export function waitForCanaryStep(
  title: string,
  options: { deploymentOptional?: boolean } = {},
): Step<RolloutState> {
  return {
    title,
    needs: ["jobVersion"],
    gives: ["deployment", "hadCanary", "noDeployment"],
    async run(state, step) {
      const found = await waitForDeploymentOf(
        state.apis.nomad,
        state.ref.service,
        needed(state, "jobVersion", title),
        { timeoutMs: 60_000, signal: step.signal },
      );
      if (!found && options.deploymentOptional) {
        state.noDeployment = true;
        step.log(`job version ${state.jobVersion} made no deployment (Nomad updated in place)`);
        return;
      }
      const deployment = requireDeployment(
        found,
        `${state.ref.service} version ${state.jobVersion}`,
      );
      // Known from now on: a failure or Ctrl-C while watching must fail this deployment.
      state.deployment = deployment;
      step.setTitle(`${title} — deployment ${deployment.ID.slice(0, 8)}`);
      const { verdict, deployment: seen } = await watchCanaryDeployment(state, deployment, step);
      state.deployment = seen;
      state.hadCanary = verdict.kind === "canaries-healthy";
      if (isFailure(verdict)) await failWith(state, verdict);
    },
  };
}

/**
 * Watches the deployment to a healthy canary, and beside it the canary's checks in Consul: the
 * first verdict wins. A canary answering its health check with an error is failed at once
 * instead of at the job's healthy_deadline.
 */
async function watchCanaryDeployment(
  state: RolloutState,
  deployment: Deployment,
  step: { signal: AbortSignal; log: (line: string) => void },
): Promise<{ verdict: DeploymentVerdict; deployment: Deployment }> {
  const stop = new AbortController();
  const signal = AbortSignal.any([step.signal, stop.signal]);
  const deploymentWatch = watchDeployment(state.apis.nomad, deployment.ID, {
    deadlineMs: deadline(state),
    signal,
    onProgress: (line) => step.log(line),
    until: ["canaries-healthy", "successful"],
  });
  const checkWatch = watchCanaryChecks({
    nomad: state.apis.nomad,
    consul: state.apis.consul,
    deploymentId: deployment.ID,
    consulService: route(state).consulService,
    failAfterMs: canaryFailAfterMs(state.job),
    signal,
    deadlineMs: deadline(state),
    onFailing: (line) => step.log(line),
  });
  try {
    type First =
      | { watched: { verdict: DeploymentVerdict; deployment: Deployment } }
      | { failed: { allocId: string; reason: string } };
    const first = await Promise.race<First>([
      deploymentWatch.then((watched) => ({ watched })),
      // A check watch that ends without a failure leaves the verdict to the deployment's watch.
      checkWatch.then((failed): Promise<First> | First =>
        failed ? { failed } : deploymentWatch.then((watched) => ({ watched })),
      ),
    ]);
    if ("watched" in first) return first.watched;
    const seen = await state.apis.nomad.deployment(deployment.ID);
    return { verdict: { kind: "unhealthy", reason: first.failed.reason }, deployment: seen.data };
  } finally {
    stop.abort();
    // Whichever lost the race ends quietly.
    await Promise.allSettled([deploymentWatch, checkWatch]);
  }
}

/** Proves the canary answers the new version through Traefik, before anyone promotes it. */
export function proveCanaryStep(title: string): Step<RolloutState> {
  return {
    title,
    skip: (state) => (state.hadCanary ? false : "no canary: nothing to prove before promotion"),
    async run(state, step) {
      const r = route(state);
      await verifyCanaryRoute(
        state.apis.traefik,
        { ...r, hostname: r.hostnames[0]! },
        { timeoutMs: 60_000, signal: step.signal, onProgress: (l) => step.log(l) },
      );
    },
  };
}

export function promoteStep(title: string): Step<RolloutState> {
  return {
    title,
    skip: (state) => (state.hadCanary ? false : "no canary to promote"),
    needs: ["deployment"],
    async run(state) {
      await state.apis.nomad.promoteDeployment(needed(state, "deployment", title).ID);
    },
  };
}

/** Watches the deployment until Nomad calls it successful. */
export function waitForHealthyStep(title: string): Step<RolloutState> {
  return {
    title,
    skip: (state) => (state.noDeployment ? "no deployment to follow" : false),
    needs: ["deployment"],
    async run(state, step) {
      const { verdict, deployment } = await watchDeployment(
        state.apis.nomad,
        needed(state, "deployment", title).ID,
        {
          deadlineMs: deadline(state),
          signal: step.signal,
          onProgress: (line) => step.log(line),
          until: ["successful"],
        },
      );
      state.deployment = deployment;
      if (isFailure(verdict)) await failWith(state, verdict);
      if (verdict.kind !== "successful")
        throw new OperationError(
          `deployment ${deployment.ID.slice(0, 8)} ended as ${verdict.kind}`,
        );
    },
  };
}

/** Proves every hostname serves the rollout's version through Traefik. */
export function proveHostnamesStep(title: string): Step<RolloutState> {
  return {
    title,
    async run(state, step) {
      await verifyHostnamesServe(state.apis.traefik, route(state), {
        timeoutMs: 90_000,
        signal: step.signal,
        onProgress: (l) => step.log(l),
      });
    },
  };
}

/** The steps after a job is submitted: canary, Traefik proof, promotion, all hostnames. */
export function rolloutSteps(): Step<RolloutState>[] {
  return [
    waitForCanaryStep("Wait for the new allocations (canary first)"),
    proveCanaryStep("Prove the canary through Traefik"),
    promoteStep("Promote the canary"),
    waitForHealthyStep("Wait for every allocation to be healthy"),
    proveHostnamesStep("Prove every hostname serves the new version through Traefik"),
  ];
}

/**
 * A service started again where its data now is (the package data's move or restore): the same
 * steps; Nomad may place it without a deployment.
 */
export function restartSteps(): Step<RolloutState>[] {
  return [
    waitForCanaryStep("Wait for the restarted allocations (canary first)", {
      deploymentOptional: true,
    }),
    ...rolloutSteps().slice(1),
  ];
}

/**
 * Nomad's revert to `version` is a rollout like any other, of the job version after the failed
 * one: the same steps, which may find no deployment when Nomad reverts in place.
 */
export function revertRolloutSteps(version: string): Step<RolloutState>[] {
  return [
    waitForCanaryStep(`Wait for the revert to ${version} (canary first)`, {
      deploymentOptional: true,
    }),
    proveCanaryStep(`Prove ${version}'s canary through Traefik`),
    promoteStep(`Promote ${version}'s canary`),
    waitForHealthyStep(`Wait for every allocation of ${version} to be healthy`),
    proveHostnamesStep(`Prove ${version} still serves through Traefik`),
  ];
}

/** Task events and log tails of the allocations that failed, for the error message. */
export async function inspectFailure(state: RolloutState): Promise<string[]> {
  if (!state.deployment) return [];
  const lines: string[] = [];
  const nomad = state.apis.nomad;
  try {
    for (const stub of await nomad.deploymentAllocations(state.deployment.ID)) {
      const alloc = await nomad.allocation(stub.ID);
      const unhealthy =
        alloc.DeploymentStatus?.Healthy === false || alloc.ClientStatus === "failed";
      if (!unhealthy) continue;
      lines.push(...explainAllocation(alloc));
      for (const task of Object.keys(alloc.TaskStates ?? {})) {
        // A task that never started has no log: said in one line, the events above still stand.
        const log = await nomad
          .allocationLogTail(alloc.ID, task, "stderr")
          .catch((e: Error) => `(no stderr log: ${e.message.split("\n")[0]!.slice(0, 120)})`);
        const tail = log.trim().split("\n").slice(-5);
        if (tail.length && tail[0])
          lines.push(...tail.map((l) => `${alloc.ID.slice(0, 8)} ${task} stderr: ${l}`));
      }
    }
  } catch (error) {
    lines.push(`(the failed allocations could not be inspected: ${(error as Error).message})`);
  }
  return lines.slice(0, 30);
}

// ------------------------------------------------------------------------------------------
// After a failure: the revert

/** Fails the rollout's deployment so Nomad reverts to the last stable job version. */
export function failDeploymentStep(): Step<RolloutState> {
  return {
    title: "Fail the deployment so Nomad reverts",
    skip: (state) =>
      state.deployment || state.jobVersion !== undefined ? false : "the job was not submitted",
    async run(state, step) {
      // Interrupted before the deployment was seen: it may still be on its way from the
      // scheduler. Find it; a canary left unpromoted would otherwise stay "running" forever.
      let id = state.deployment?.ID;
      if (!id) {
        const jobVersion = needed(state, "jobVersion", "Fail the deployment");
        const found = await waitForDeploymentOf(state.apis.nomad, state.ref.service, jobVersion, {
          timeoutMs: 15_000,
          signal: step.signal,
        });
        // Only ours: a later job version's deployment belongs to someone else.
        if (found && found.JobVersion === jobVersion) id = found.ID;
      }
      if (!id) {
        step.log(`job version ${state.jobVersion} made no deployment`);
        return;
      }
      const current = (await state.apis.nomad.deployment(id)).data;
      if (isDeploymentActive(current)) {
        await state.apis.nomad.failDeployment(current.ID);
        step.log(`deployment ${current.ID.slice(0, 8)} marked failed`);
      } else step.log(`deployment ${current.ID.slice(0, 8)} is already ${current.Status}`);
    },
  };
}

/** A first deploy that failed: its job stopped (nothing was serving before it). */
export function stopFirstDeployStep(): Step<RolloutState> {
  return {
    title: "Stop the job (a first deploy: nothing to revert to)",
    skip: (state) => (state.jobVersion !== undefined ? false : "the job was not submitted"),
    async run(state, step) {
      await state.apis.nomad.stopJob(state.ref.service);
      step.log(`${state.ref.service} stopped`);
    },
  };
}

/**
 * Runs the rollout of a submitted job. On any failure (or Ctrl-C, or SIGTERM) the deployment is
 * failed so Nomad reverts to `previousVersion`, that revert is followed by the same rollout steps,
 * and what went wrong is thrown with what serves now. A revert that fails too is said, never
 * swallowed.
 */
export async function rollOutOrRevert(
  state: RolloutState,
  run: RunOptions & { what: string; previousVersion: string | undefined },
): Promise<void> {
  const { what, previousVersion, ...options } = run;
  try {
    await runSteps(rolloutSteps(), state, { ...options, phase: "rollout" });
  } catch (error) {
    await revertFailedRollout(
      error,
      {
        what,
        previousVersion,
        revertHint:
          "check `elm-infra status`, and end the deployment with `nomad deployment fail <id>` if it still runs",
      },
      {
        warn: (line) => run.output.warn(line),
        revert: async (signal) => {
          const revertOptions = { ...options, signal, phase: "revert" };
          await runSteps([failDeploymentStep()], state, revertOptions);
          if (!previousVersion) {
            // A first deploy: Nomad has no stable version to revert to, and would leave the
            // failed one registered and running. It is stopped instead.
            await runSteps([stopFirstDeployStep()], state, revertOptions);
            return;
          }
          const revert: RolloutState = {
            config: state.config,
            ref: { ...state.ref, version: previousVersion },
            apis: state.apis,
            ...(state.job ? { job: state.job } : {}),
            jobVersion: (state.jobVersion ?? 0) + 1,
          };
          await runSteps(revertRolloutSteps(previousVersion), revert, revertOptions);
        },
      },
    );
  }
}

/**
 * Runs `work` and releases the deploy lock a step of it took, whatever happened (releasingAfter).
 * A failed release is warned about; when the work failed too, it is added to that error.
 */
export function releasingLock<T>(
  state: Pick<RolloutState, "lock">,
  output: Output,
  work: () => Promise<T>,
): Promise<T> {
  return releasingAfter(() => state.lock, work, deployLockRelease(output));
}

/**
 * How every rollout (the services' and the ingress's) releases the deploy lock: a release that
 * fails after the work succeeded is warned about, the work's result stands (the lock expires).
 */
export function deployLockRelease(output: Output): ReleaseOptions {
  return {
    onReleaseFailed: (error) =>
      output.warn(
        `${error.message}${error instanceof ElmInfraError && error.hint ? ` (${error.hint})` : ""}`,
      ),
  };
}
