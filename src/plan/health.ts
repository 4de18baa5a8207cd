/**
 * Is anything degraded now? Pure: what status observes (the cluster as bring-up's verification
 * reads it, each service's job and allocations, the backups' last successes) in, one finding per
 * degraded thing out. `status --check` fails with them; scale refuses a degraded cluster.
 */
import type { HostRecord } from "./bring-up.js";
import { sameNode, verifyCluster, type ObservedCluster } from "./verify.js";

/** A service as status reads it from Nomad and Traefik. */
export interface ObservedService {
  service: string;
  deployed: boolean;
  /** The job's desired count (all groups), when deployed. */
  count: number | null;
  allocations: Array<{
    id: string;
    node: string;
    status: string;
    healthy: boolean | null;
    /** Why it cannot start, when its image could not be pulled (image, registry, reason). */
    pullFailure?: string;
  }>;
  /** Traefik's view of the service's servers (url -> UP/DOWN); absent when it could not be asked. */
  traefikServers?: Record<string, string>;
}

export interface ObservedBackup {
  service: string;
  /** When the last backup that succeeded finished (ISO 8601); absent when none has. */
  lastSuccessAt?: string;
  /** The schedule's promise: a backup at most this old. */
  maxAgeSeconds: number;
}

export interface Degradation {
  kind: "cluster" | "raft" | "service" | "backup";
  /** What is degraded: a host, a service, an allocation, a backup. */
  subject: string;
  detail: string;
}

export interface HealthInput {
  inventory?: { hosts: ReadonlyArray<Pick<HostRecord, "name" | "role">> };
  /** The cluster as observed; absent on a target without hosts (the loopback dev agents). */
  cluster?: ObservedCluster;
  services: ObservedService[];
  backups?: readonly ObservedBackup[];
  /** Now, in ms since the epoch. */
  now: number;
}

/** An allocation that serves: running, and not found unhealthy by its deployment. */
const serving = (a: ObservedService["allocations"][number]) =>
  a.status === "running" && a.healthy !== false;

/** Every degraded thing, cluster first, in a stable order; empty when all is well. */
export function findDegradations(input: HealthInput): Degradation[] {
  const found: Degradation[] = [];
  if (input.cluster && input.inventory) {
    // bring-up's own checks: leaders, voters, autopilot, nodes ready, members alive, Traefik, LB
    for (const c of verifyCluster(input.inventory, input.cluster).checks)
      if (!c.ok) found.push({ kind: "cluster", subject: c.name, detail: c.detail });
    found.push(...strangerPeers(input.inventory, input.cluster));
  }
  for (const s of input.services) found.push(...serviceDegradations(s));
  for (const b of input.backups ?? []) {
    const d = backupDegradation(b, input.now);
    if (d) found.push(d);
  }
  return found;
}

/** A raft server no manager of the inventory is: a dead or forgotten peer still counted. */
function strangerPeers(
  inventory: NonNullable<HealthInput["inventory"]>,
  cluster: ObservedCluster,
): Degradation[] {
  const managers = inventory.hosts.filter((h) => h.role === "manager").map((h) => h.name);
  const found: Degradation[] = [];
  for (const [system, raft] of [
    ["Nomad", cluster.nomad],
    ["Consul", cluster.consul],
  ] as const)
    for (const s of raft.servers)
      if (!managers.some((m) => sameNode(s.node, m)))
        found.push({
          kind: "raft",
          subject: `${system} raft peer ${s.node} (${s.address})`,
          detail: `${s.voter ? "a voter" : "a non-voter"} that is no manager of the inventory`,
        });
  return found;
}

export function serviceDegradations(s: ObservedService): Degradation[] {
  // A service never deployed is not degraded: there is nothing it should be running yet.
  if (!s.deployed || s.count === null) return [];
  const found: Degradation[] = [];
  // A promoted canary keeps its canary flag: it counts like any other allocation.
  const good = s.allocations.filter(serving).length;
  if (good < s.count)
    found.push({
      kind: "service",
      subject: s.service,
      detail: `${good} of ${s.count} allocations running and healthy`,
    });
  for (const a of s.allocations)
    if (!serving(a))
      found.push({
        kind: "service",
        subject: `${s.service} allocation ${a.id} on ${a.node}`,
        detail: a.pullFailure ?? (a.status === "running" ? "unhealthy" : a.status),
      });
  for (const [url, state] of Object.entries(s.traefikServers ?? {}))
    if (state !== "UP")
      found.push({
        kind: "service",
        subject: `${s.service} server ${url}`,
        detail: `Traefik sees it ${state}`,
      });
  return found;
}

function backupDegradation(b: ObservedBackup, now: number): Degradation | undefined {
  const subject = `backup of ${b.service}`;
  if (!b.lastSuccessAt) return { kind: "backup", subject, detail: "none has succeeded yet" };
  const at = Date.parse(b.lastSuccessAt);
  if (Number.isNaN(at))
    return { kind: "backup", subject, detail: `unreadable time ${b.lastSuccessAt}` };
  const ageSeconds = Math.floor((now - at) / 1000);
  if (ageSeconds <= b.maxAgeSeconds) return undefined;
  return {
    kind: "backup",
    subject,
    detail: `the last one succeeded ${formatAge(ageSeconds)} ago (${b.lastSuccessAt}); the schedule allows ${formatAge(b.maxAgeSeconds)}`,
  };
}

/** Pure: 90 -> "1m30s", 7200 -> "2h0m". */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

/** The findings one a line, as `status --check` fails with them. */
export function formatDegradations(found: readonly Degradation[]): string {
  return found.map((d) => `${d.subject}: ${d.detail}`).join("\n");
}
