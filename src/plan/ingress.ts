/**
 * The ingress upgrade, node by node (Nomad 1.10 has no deployments for system jobs): which job to
 * submit at each step, and what one worker's allocation says. Pure; tasks/ingress.ts does the I/O.
 */
import semver from "semver";

/** A job as Nomad returns it: groups by name, everything else passed through. */
export interface JobWithGroups {
  ID: string;
  TaskGroups?: Array<{ Name: string; Meta?: Record<string, string> | null; [k: string]: unknown }>;
  [key: string]: unknown;
}

/** The version each worker's group runs (its `meta.version`), by worker name. */
export function versionsByWorker(job: JobWithGroups | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of job?.TaskGroups ?? []) out[g.Name] = g.Meta?.version ?? "?";
  return out;
}

/**
 * The Traefik version the ingress runs, when its workers may differ (an upgrade stopped halfway):
 * the one most workers run; on a tie the pinned one if it is among them, else the newest of
 * them. Undefined before any worker runs a known version.
 */
export function prevailingVersion(versions: readonly string[], pinned: string): string | undefined {
  const counts = new Map<string, number>();
  // "?": a group without a version (versionsByWorker) counts for nothing.
  for (const v of versions) if (v !== "?") counts.set(v, (counts.get(v) ?? 0) + 1);
  const most = Math.max(0, ...counts.values());
  const tied = [...counts.keys()].filter((v) => counts.get(v) === most);
  if (tied.length === 0) return undefined;
  if (tied.includes(pinned)) return pinned;
  const newestFirst = (a: string, b: string) =>
    semver.valid(a) && semver.valid(b) ? semver.rcompare(a, b) : b.localeCompare(a);
  return tied.sort(newestFirst)[0];
}

export interface IngressRollout {
  /** Workers that have no Traefik yet (new hosts): they get the new version in the first step. */
  add: string[];
  /** Groups of workers that are gone. */
  remove: string[];
  /** Workers to move one at a time, in order (those already at the version may still differ in spec). */
  roll: string[];
}

/** Which workers join, leave and roll. Without a job yet, every worker is simply added. */
export function planIngressRollout(
  current: JobWithGroups | undefined,
  workers: readonly string[],
): IngressRollout {
  const have = new Set((current?.TaskGroups ?? []).map((g) => g.Name));
  return {
    add: workers.filter((w) => !have.has(w)),
    remove: [...have].filter((g) => !workers.includes(g)),
    roll: workers.filter((w) => have.has(w)),
  };
}

/**
 * The job to submit for one step: the current job, with `take` workers' groups from the desired
 * job (new workers' groups added, departed workers' groups dropped), the other groups untouched,
 * so Nomad replaces only the named workers' Traefik.
 */
export function stepJob(
  current: JobWithGroups | undefined,
  desired: JobWithGroups,
  take: readonly string[],
  workers: readonly string[],
): JobWithGroups {
  if (!current) return desired;
  const groups = workers.map((w) => {
    const from = take.includes(w)
      ? desired.TaskGroups?.find((g) => g.Name === w)
      : (current.TaskGroups?.find((g) => g.Name === w) ??
        desired.TaskGroups?.find((g) => g.Name === w));
    if (!from) throw new Error(`the ingress job has no group for ${w}`);
    return from;
  });
  return { ...desired, TaskGroups: groups };
}

export interface AllocSummary {
  TaskGroup: string;
  JobVersion: number;
  ClientStatus: string;
  DesiredStatus: string;
  TaskStates?: Record<
    string,
    {
      State: string;
      Failed: boolean;
      Events?: Array<{ Type: string; DisplayMessage?: string }> | null;
    }
  > | null;
}

export type WorkerAllocState =
  { kind: "running" } | { kind: "waiting"; detail: string } | { kind: "failed"; reason: string };

/** What one worker's allocations of the ingress job say about the job version just submitted. */
export function workerAllocState(
  allocs: readonly AllocSummary[],
  worker: string,
  jobVersion: number,
): WorkerAllocState {
  const mine = allocs.filter((a) => a.TaskGroup === worker && a.JobVersion >= jobVersion);
  const running = mine.find(
    (a) =>
      a.ClientStatus === "running" &&
      a.DesiredStatus === "run" &&
      Object.values(a.TaskStates ?? {}).every((t) => t.State === "running"),
  );
  if (running) return { kind: "running" };
  // A lost allocation Nomad already stopped belongs to a node that is gone (a dead worker whose
  // name a replacement took): old news, not this rollout's failure.
  const failed = mine.find(
    (a) => a.ClientStatus === "failed" || (a.ClientStatus === "lost" && a.DesiredStatus === "run"),
  );
  if (failed) {
    const events = Object.values(failed.TaskStates ?? {}).flatMap((t) => t.Events ?? []);
    const last = events.filter((e) => e.DisplayMessage).at(-1);
    return {
      kind: "failed",
      reason: `allocation ${failed.ClientStatus}${last ? `: ${last.Type}: ${last.DisplayMessage}` : ""}`,
    };
  }
  if (mine.length === 0) return { kind: "waiting", detail: "no allocation placed yet" };
  return { kind: "waiting", detail: `allocation ${mine.at(-1)!.ClientStatus}` };
}

/**
 * Where a worker's Traefik routes differ from Consul's catalog: for each worker and service, the
 * instances Consul lists as passing that its Traefik does not route to, and those it routes to
 * that Consul no longer lists. Empty when every worker's Traefik has caught up. Traefik's Consul
 * provider stops refreshing while Consul answers errors (the servers restarting) and retries with
 * an exponential backoff (up to tens of seconds after they are back): moving an allocation
 * meanwhile leaves that Traefik sending requests to an instance that is gone.
 */
export function traefikLag(
  consul: Readonly<Record<string, readonly string[]>>,
  traefik: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>,
): string[] {
  const out: string[] = [];
  for (const [worker, routes] of Object.entries(traefik))
    for (const [service, passing] of Object.entries(consul)) {
      const routed = new Set(routes[service] ?? []);
      const listed = new Set(passing);
      const missing = passing.filter((u) => !routed.has(u));
      const stale = [...routed].filter((u) => !listed.has(u));
      if (missing.length > 0 || stale.length > 0)
        out.push(
          `${worker}'s Traefik: ${service}${missing.length > 0 ? ` lacks ${missing.join(", ")}` : ""}${missing.length > 0 && stale.length > 0 ? " and" : ""}${stale.length > 0 ? ` still routes to ${stale.join(", ")}` : ""}`,
        );
    }
  return out;
}
