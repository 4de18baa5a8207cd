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
  /** Pinned to one worker (its data is there): its spread is not judged. */
  pinned?: boolean;
  /** The version it runs, for the command that spreads it again. */
  version?: string | null;
}

/**
 * An allocation a node's client still runs though the servers want it stopped: what a host that
 * restarted without its Nomad client finishing its old allocations leaves (the client reports
 * the dead boot's allocation "running" for minutes). While it holds its static ports, Nomad
 * counts the whole node as exhausted ("network: port collision") for every placement.
 */
export interface StaleAllocation {
  node: string;
  id: string;
  job: string;
  desired: string;
  /** Seconds since the servers last changed it. */
  ageSeconds: number;
}

/** How long a stopping allocation may still run: its kill timeout (30 s) and a drain, with room. */
export const staleAfterSeconds = 90;

export interface ObservedBackup {
  service: string;
  /** How findings name it; default `backup of <service>`. */
  subject?: string;
  /** Why there is nothing to judge (its job is not there), when that is so. */
  missing?: string;
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
  /** Allocations still running on a client though stopped by the servers (see StaleAllocation). */
  staleAllocations?: readonly StaleAllocation[];
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
  if (input.cluster) {
    const placeable = input.cluster.nomad.nodes
      .filter((n) => n.status === "ready" && n.eligible)
      .map((n) => n.name);
    for (const s of input.services) {
      const d = spreadDegradation(s, placeable);
      if (d) found.push(d);
    }
  }
  for (const a of input.staleAllocations ?? [])
    if (a.ageSeconds > staleAfterSeconds)
      found.push({
        kind: "cluster",
        subject: `node ${a.node}`,
        detail: `allocation ${a.id} of ${a.job} still runs there ${formatAge(a.ageSeconds)} after the servers set it to ${a.desired} (a dead boot's, or a stop its client never finished): while it holds its ports Nomad places nothing there; on that node, remove Nomad's stopped containers and restart its Nomad agent (systemctl restart elm-infra-nomad-dead-boot nomad; bring-up installs that unit), or reboot it (elm-infra reboot ${a.node})`,
      });
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

/**
 * A service whose allocations sit on fewer workers than it could use (count 2 on one worker of
 * two): one worker's loss takes them all. A deploy of the same version places them again.
 */
export function spreadDegradation(
  s: ObservedService,
  placeable: readonly string[],
): Degradation | undefined {
  if (!s.deployed || s.pinned) return undefined;
  const running = s.allocations.filter(serving);
  const nodes = new Set(running.map((a) => a.node));
  // Missing allocations are a finding of their own; the spread judges those that serve.
  const could = Math.min(running.length, placeable.length);
  if (running.length < 2 || nodes.size >= could) return undefined;
  const again = s.version ? `elm-infra deploy ${s.service}@${s.version}` : "a deploy";
  return {
    kind: "service",
    subject: s.service,
    detail: `its spread is lost: ${running.length} allocations on ${nodes.size} worker${nodes.size === 1 ? "" : "s"} (${[...nodes].sort().join(", ")}) of the ${placeable.length} that could take them, so one worker's loss takes ${nodes.size === 1 ? "them all" : "most of them"}; ${again} places them again`,
  };
}

function backupDegradation(b: ObservedBackup, now: number): Degradation | undefined {
  const subject = b.subject ?? `backup of ${b.service}`;
  if (b.missing) return { kind: "backup", subject, detail: b.missing };
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
