/**
 * Do the services serve? What bring-up ends with: every service deployed on the target has as
 * many allocations running and healthy as its job asks (judged by plan/health.ts, as
 * `status --check` judges them), waited for within a bound; otherwise it names which and what
 * to run, so bring-up never ends well while a service it manages is down.
 */
import type { LoadedConfig } from "../config/load.js";
import { OperationError } from "../errors.js";
import type { ClusterApis } from "../cluster/connect.js";
import { pullFailure } from "../nomad/deployment.js";
import type { AllocationStub } from "../nomad/types.js";
import { serviceDegradations, type Degradation, type ObservedService } from "../plan/health.js";
import { done, notYet, waitFor } from "../wait.js";

/** An allocation meant to run, as status and the health judgment read it. */
export function observedAllocation(a: AllocationStub): ObservedService["allocations"][number] {
  const failed = pullFailure(a);
  return {
    id: a.ID.slice(0, 8),
    node: a.NodeName ?? a.NodeID.slice(0, 8),
    status: a.ClientStatus,
    healthy: a.DeploymentStatus?.Healthy ?? null,
    ...(failed ? { pullFailure: failed } : {}),
  };
}

/** Each service of cluster.yaml as Nomad has it: its job's count and its allocations meant to run. */
export async function observeServices(
  config: LoadedConfig,
  apis: ClusterApis,
): Promise<ObservedService[]> {
  return Promise.all(
    Object.keys(config.services).map(async (service) => {
      const job = await apis.nomad.readJob(service);
      const deployed = !!job && job.Stop !== true;
      const allocs = deployed ? (await apis.nomad.jobAllocations(service)).data : [];
      return {
        service,
        deployed,
        count: deployed ? (job.TaskGroups ?? []).reduce((n, g) => n + g.Count, 0) : null,
        allocations: allocs.filter((a) => a.DesiredStatus === "run").map(observedAllocation),
      };
    }),
  );
}

/**
 * Waits (bounded) until no deployed service is degraded; then returns the services seen serving.
 * Refuses with every degradation left, and what to run, when the bound passes.
 */
export async function proveServicesServe(
  config: LoadedConfig,
  apis: ClusterApis,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<string[]> {
  let last: Degradation[] = [];
  const timeoutMs = options.timeoutMs ?? 120_000;
  try {
    return await waitFor(
      {
        what: "every deployed service to serve",
        timeoutMs,
        intervalMs: 1000,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      async () => {
        const services = await observeServices(config, apis);
        last = services.flatMap(serviceDegradations);
        return last.length === 0
          ? done(services.filter((s) => s.deployed).map((s) => s.service))
          : notYet(last.map((d) => d.subject).join(", "));
      },
    );
  } catch (error) {
    if (options.signal?.aborted || last.length === 0) throw error;
    throw new OperationError(
      `a service is down after ${Math.round(timeoutMs / 1000)} s:\n${last.map((d) => `  ${d.subject}: ${d.detail}`).join("\n")}`,
      "elm-infra status --check shows the same; a service whose data was lost: elm-infra restore <service> --yes; else run bring-up again or deploy it",
    );
  }
}
