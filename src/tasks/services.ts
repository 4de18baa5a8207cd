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
import {
  serviceDegradations,
  spreadDegradation,
  type Degradation,
  type ObservedService,
  type StaleAllocation,
} from "../plan/health.js";
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
        // A service with data is pinned to its holder: its spread is not judged.
        pinned: !!config.services[service]?.data,
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

/**
 * Allocations a node's client reports running though the servers want them stopped (or evicted),
 * with how long ago the servers changed them: plan/health.ts names those past their stop time.
 */
export async function observeStaleAllocations(
  apis: ClusterApis,
  now: number,
): Promise<StaleAllocation[]> {
  const nodes = await apis.nomad.nodes();
  const found = await Promise.all(
    nodes.map(async (node) => {
      const { data } = await apis.nomad.nodeAllocations(node.ID);
      return data
        .filter((a) => a.ClientStatus === "running" && a.DesiredStatus !== "run")
        .map((a) => ({
          node: node.Name,
          id: a.ID.slice(0, 8),
          job: a.JobID ?? a.Name.split(".")[0] ?? "?",
          desired: a.DesiredStatus,
          ageSeconds: a.ModifyTime ? Math.max(0, Math.floor((now - a.ModifyTime / 1e6) / 1000)) : 0,
        }));
    }),
  );
  return found.flat();
}

/** Pure: the allocation to move so a lost spread comes back: one on the most crowded worker. */
export function allocationToMove(s: ObservedService): string | undefined {
  const byNode = new Map<string, string[]>();
  for (const a of s.allocations)
    if (a.status === "running" && a.healthy !== false)
      byNode.set(a.node, [...(byNode.get(a.node) ?? []), a.id]);
  const crowded = [...byNode.entries()].sort((x, y) => y[1].length - x[1].length)[0];
  return crowded && crowded[1].length > 1 ? crowded[1][0] : undefined;
}

/**
 * Every service whose spread is lost (plan/health.ts) gets it back, one allocation at a time: one
 * on the most crowded worker is stopped, Nomad places its replacement by the job's spread (a
 * worker with fewer), and the next move waits until the service serves with its whole count
 * again. The stopped one leaves Consul first and Traefik's routes with it (the job's shutdown
 * delay), so no request fails. Returns a line per move.
 */
export async function respreadServices(
  config: LoadedConfig,
  apis: ClusterApis,
  options: {
    log: (line: string) => void;
    signal?: AbortSignal;
    /** Before the first allocation is stopped, and only when one is. */
    beforeFirstMove?: () => Promise<void>;
  },
): Promise<string[]> {
  const moves: string[] = [];
  // Bounded: a service never needs more moves than it has allocations.
  const bound = Object.values(config.services).reduce((n, s) => n + s.count, 0);
  for (let round = 0; round < bound; round++) {
    const placeable = (await apis.nomad.nodes())
      .filter((n) => n.Status === "ready" && n.SchedulingEligibility === "eligible")
      .map((n) => n.Name);
    const services = await observeServices(config, apis);
    const lost = services.find((s) => spreadDegradation(s, placeable));
    const id = lost && allocationToMove(lost);
    if (!lost || !id) break;
    const from = lost.allocations.find((a) => a.id === id)!.node;
    if (round === 0) await options.beforeFirstMove?.();
    options.log(`${lost.service}: moving allocation ${id} off ${from} (its spread is lost)`);
    const full = (await apis.nomad.jobAllocations(lost.service)).data.find((a) =>
      a.ID.startsWith(id),
    );
    if (!full) break;
    await apis.nomad.stopAllocation(full.ID);
    const placed = await waitFor(
      {
        what: `${lost.service} to serve with its whole count again`,
        timeoutMs: 120_000,
        intervalMs: 1000,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      async () => {
        const [now] = (await observeServices(config, apis)).filter(
          (s) => s.service === lost.service,
        );
        const replaced = now && !now.allocations.some((a) => a.id === id);
        return replaced && serviceDegradations(now).length === 0
          ? done(now.allocations.find((a) => !lost.allocations.some((b) => b.id === a.id))?.node)
          : notYet("the replacement is not healthy yet");
      },
    );
    moves.push(`${lost.service}: allocation ${id} moved from ${from} to ${placed ?? "?"}`);
    options.log(moves.at(-1)!);
  }
  return moves;
}
