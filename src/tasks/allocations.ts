import type { LoadedConfig } from "../config/load.js";
import { OperationError, UsageError } from "../errors.js";
import type { NomadClient } from "../nomad/client.js";
import { quote } from "../output/quote.js";
import { pickAllocations, type RunningAllocation } from "../plan/logs.js";

/** A service of cluster.yaml, or a usage error naming the known ones (before any connection). */
export function requireService(config: Pick<LoadedConfig, "services">, service: string): void {
  const names = Object.keys(config.services);
  if (!names.includes(service))
    throw new UsageError(
      `unknown service ${quote(service)}`,
      `known services: ${names.join(", ")}`,
    );
}

/**
 * Where `logs` and `exec` work: the service's main task (its job's first group's first task:
 * the site, never a helper group beside it) and that group's running allocations, all of them
 * or those whose ID starts with `prefix`. A job that is not there, or that runs nothing, is an
 * error that says what to do.
 */
export async function runningTaskOf(
  nomad: NomadClient,
  service: string,
  prefix?: string,
): Promise<{ task: string; allocations: RunningAllocation[] }> {
  const job = await nomad.readJob(service);
  const group = job?.TaskGroups?.[0];
  const task = group?.Tasks?.[0]?.Name;
  if (!job || !group || !task)
    throw new OperationError(
      `${service} is not deployed: Nomad has no job ${quote(service)}`,
      `deploy it first, for example: elm-infra deploy ${service}@<version>`,
    );
  const stubs = (await nomad.jobAllocations(service)).data.filter(
    (a) => a.TaskGroup === group.Name,
  );
  const allocations = pickAllocations(service, stubs, prefix);
  if (allocations.length === 0)
    throw new OperationError(
      `${service} has no running allocation`,
      `elm-infra status ${service} shows why (a deploy in progress, a failed one, no worker)`,
    );
  return { task, allocations };
}
