import type { LoadedConfig } from "../config/load.js";
import { hostnamesOf } from "../config/load.js";
import type { ServiceRef } from "../config/service-ref.js";
import type { ClusterApis } from "../cluster/connect.js";
import { OperationError } from "../errors.js";
import { explainAllocation, deploymentDeadlineMs, type Verdict } from "../nomad/deployment.js";
import type { Deployment, NomadJob } from "../nomad/types.js";
import { requireDeployment, waitForDeploymentOf, watchDeployment } from "../nomad/watch.js";
import { consulServiceName } from "../plan/job-vars.js";
import { verifyCanaryRoute, verifyHostnamesServe } from "../traefik/verify.js";
import type { Step } from "./runner.js";

/** What a rollout (deploy or rollback) knows as it goes. */
export interface RolloutState {
  config: LoadedConfig;
  ref: ServiceRef;
  apis: ClusterApis;
  /** The job as submitted; its update block gives the deadlines. */
  job?: NomadJob;
  /** The job version Nomad gave the submitted job. */
  jobVersion?: number;
  deployment?: Deployment;
  hadCanary?: boolean;
}

function route(state: RolloutState) {
  const service = state.config.services[state.ref.service]!;
  return {
    consulService: consulServiceName(state.ref.service),
    hostnames: hostnamesOf(state.config, state.ref.service),
    healthPath: service.healthPath,
    version: state.ref.version,
  };
}

function deadline(state: RolloutState): number {
  return state.job ? deploymentDeadlineMs(state.job) : 10 * 60_000;
}

async function failWith(
  state: RolloutState,
  verdict: Verdict & { reason: string },
): Promise<never> {
  const details = await inspectFailure(state);
  throw new OperationError(
    `${state.ref.service}@${state.ref.version} did not become healthy: ${verdict.reason}${details.length ? `\n${details.map((d) => `  ${d}`).join("\n")}` : ""}`,
  );
}

/** The steps after a job is submitted: canary, Traefik proof, promotion, all hostnames. */
export function rolloutSteps(): Step<RolloutState>[] {
  return [
    {
      title: "Wait for the new allocations (canary first)",
      async run(state, step) {
        const found = await waitForDeploymentOf(
          state.apis.nomad,
          state.ref.service,
          state.jobVersion!,
          { timeoutMs: 60_000, signal: step.signal },
        );
        const deployment = requireDeployment(
          found,
          `${state.ref.service} version ${state.jobVersion}`,
        );
        // Known from now on: a failure or Ctrl-C while watching must fail this deployment.
        state.deployment = deployment;
        step.setTitle(`Wait for deployment ${deployment.ID.slice(0, 8)} (canary first)`);
        const { verdict, deployment: seen } = await watchDeployment(
          state.apis.nomad,
          deployment.ID,
          {
            deadlineMs: deadline(state),
            signal: step.signal,
            onProgress: (line) => step.log(line),
            until: ["canaries-healthy", "successful"],
          },
        );
        state.deployment = seen;
        state.hadCanary = verdict.kind === "canaries-healthy";
        if (verdict.kind === "failed" || verdict.kind === "unhealthy")
          await failWith(state, verdict);
      },
    },
    {
      title: "Prove the canary through Traefik",
      skip: (state) => (state.hadCanary ? false : "no canary: first version of the job"),
      async run(state, step) {
        const r = route(state);
        await verifyCanaryRoute(
          state.apis.traefik,
          { ...r, hostname: r.hostnames[0]! },
          { timeoutMs: 60_000, signal: step.signal, onProgress: (l) => step.log(l) },
        );
      },
    },
    {
      title: "Promote the canary",
      skip: (state) => (state.hadCanary ? false : "no canary to promote"),
      async run(state) {
        await state.apis.nomad.promoteDeployment(state.deployment!.ID);
      },
    },
    {
      title: "Wait for every allocation to be healthy",
      async run(state, step) {
        const { verdict, deployment } = await watchDeployment(
          state.apis.nomad,
          state.deployment!.ID,
          {
            deadlineMs: deadline(state),
            signal: step.signal,
            onProgress: (line) => step.log(line),
            until: ["successful"],
          },
        );
        state.deployment = deployment;
        if (verdict.kind !== "successful")
          await failWith(state, verdict as Verdict & { reason: string });
      },
    },
    {
      title: "Prove every hostname serves the new version through Traefik",
      async run(state, step) {
        await verifyHostnamesServe(state.apis.traefik, route(state), {
          timeoutMs: 90_000,
          signal: step.signal,
          onProgress: (l) => step.log(l),
        });
      },
    },
  ];
}

/** Task events and log tails of the allocations that failed, for the error message. */
export async function inspectFailure(state: RolloutState): Promise<string[]> {
  if (!state.deployment) return [];
  const lines: string[] = [];
  const allocs = await state.apis.nomad.deploymentAllocations(state.deployment.ID).catch(() => []);
  for (const stub of allocs) {
    const alloc = await state.apis.nomad.allocation(stub.ID).catch(() => stub);
    const unhealthy = alloc.DeploymentStatus?.Healthy === false || alloc.ClientStatus === "failed";
    if (!unhealthy) continue;
    lines.push(...explainAllocation(alloc));
    for (const task of Object.keys(alloc.TaskStates ?? {})) {
      const tail = (await state.apis.nomad.allocationLogTail(alloc.ID, task, "stderr"))
        .trim()
        .split("\n")
        .slice(-5);
      if (tail.length && tail[0])
        lines.push(...tail.map((l) => `${alloc.ID.slice(0, 8)} ${task} stderr: ${l}`));
    }
  }
  return lines.slice(0, 30);
}

/**
 * After a failure: fail the deployment so Nomad reverts to the last stable version, wait for
 * that revert, and prove through Traefik that the previous version serves again.
 */
export function revertSteps(previousVersion: string | undefined): Step<RolloutState>[] {
  return [
    {
      title: "Fail the deployment so Nomad reverts",
      skip: (state) =>
        state.deployment || state.jobVersion !== undefined ? false : "the job was not submitted",
      async run(state, step) {
        // Interrupted before the deployment was seen: it may still be on its way from the
        // scheduler. Find it; a canary left unpromoted would otherwise stay "running" forever.
        let id = state.deployment?.ID;
        if (!id) {
          const found = await waitForDeploymentOf(
            state.apis.nomad,
            state.ref.service,
            state.jobVersion!,
            { timeoutMs: 15_000, signal: step.signal },
          );
          // Only ours: a later job version's deployment belongs to someone else.
          if (found && found.JobVersion === state.jobVersion) id = found.ID;
        }
        if (!id) {
          step.log(`job version ${state.jobVersion} made no deployment`);
          return;
        }
        const current = (await state.apis.nomad.deployment(id)).data;
        if (
          current.Status === "running" ||
          current.Status === "paused" ||
          current.Status === "pending"
        ) {
          await state.apis.nomad.failDeployment(current.ID);
          step.log(`deployment ${current.ID.slice(0, 8)} marked failed`);
        } else step.log(`deployment ${current.ID.slice(0, 8)} is already ${current.Status}`);
      },
    },
    {
      title: `Wait for the revert to ${previousVersion ?? "the previous version"}`,
      skip: () => (previousVersion ? false : "there is no previous version to revert to"),
      async run(state, step) {
        const found = await waitForDeploymentOf(
          state.apis.nomad,
          state.ref.service,
          state.jobVersion! + 1,
          { timeoutMs: 60_000, signal: step.signal },
        );
        if (!found) {
          step.log("Nomad reverted in place (no new deployment)");
          return;
        }
        const { verdict } = await watchDeployment(state.apis.nomad, found.ID, {
          deadlineMs: deadline(state),
          signal: step.signal,
          onProgress: (l) => step.log(l),
          until: ["successful", "canaries-healthy"],
        });
        if (verdict.kind === "canaries-healthy") {
          await state.apis.nomad.promoteDeployment(found.ID);
          const done = await watchDeployment(state.apis.nomad, found.ID, {
            deadlineMs: deadline(state),
            signal: step.signal,
            until: ["successful"],
          });
          if (done.verdict.kind !== "successful")
            throw new OperationError(
              `the revert did not complete: ${"reason" in done.verdict ? done.verdict.reason : done.verdict.kind}`,
            );
        } else if (verdict.kind !== "successful") {
          throw new OperationError(
            `the revert did not complete: ${"reason" in verdict ? verdict.reason : verdict.kind}`,
          );
        }
      },
    },
    {
      title: `Prove ${previousVersion ?? "the previous version"} still serves through Traefik`,
      skip: () => (previousVersion ? false : "there is no previous version"),
      async run(state, step) {
        await verifyHostnamesServe(
          state.apis.traefik,
          { ...route(state), version: previousVersion! },
          { timeoutMs: 60_000, signal: step.signal, onProgress: (l) => step.log(l) },
        );
      },
    },
  ];
}
