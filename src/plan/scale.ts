/**
 * What `scale` (and `replace`) will do, decided before anything changes. Pure: the counts asked
 * for, the hosts that exist and the services in; the hosts created (in one apply) and the hosts
 * removed (one at a time, in order) out, or a refusal that says why.
 */
import { ConflictError, UsageError } from "../errors.js";
import { planHosts, parseHostName, type HostRole } from "./hosts.js";
import type { Verdict } from "./verify.js";

export interface HostCounts {
  managers: number;
  workers: number;
}

export interface ScaleInput {
  target: string;
  /** What cluster.yaml says now. */
  configured: HostCounts;
  /** --managers / --workers: those given. */
  requested: Partial<HostCounts>;
  /** The hosts that exist (the inventory bring-up recorded). */
  existing: readonly string[];
  /** Each service's instance count, for the spread note. */
  services: Record<string, { count: number }>;
}

export interface ScalePlan {
  from: HostCounts;
  to: HostCounts;
  /** Hosts OpenTofu creates, all in one apply, before any host is removed. */
  create: string[];
  /** Hosts retired and destroyed one at a time, in this order: workers, then managers. */
  remove: string[];
  /** What the user should know though it does not stop the change (a service not spread). */
  notes: string[];
  /** True when the cluster already has the counts asked for. */
  unchanged: boolean;
  /** cluster.yaml's counts differ from the hosts that exist (an interrupted scale): said. */
  configuredDiffers: boolean;
}

/** Refuses counts the cluster cannot run with (usage errors, exit 2). */
export function checkRequestedCounts(target: string, requested: Partial<HostCounts>): void {
  const { managers, workers } = requested;
  if (managers === undefined && workers === undefined) {
    throw new UsageError(
      "scale needs --managers, --workers or both",
      "for example: elm-infra scale --workers 3",
    );
  }
  if (managers !== undefined && (managers < 1 || managers % 2 === 0 || managers > 7)) {
    throw new UsageError(
      `cannot scale target ${target} to ${managers} managers: the Nomad and Consul servers need an odd number (1, 3, 5 or 7) to keep a quorum`,
      managers > 7
        ? "use --managers 7 or fewer"
        : managers < 1
          ? "use --managers 1 or 3"
          : `use --managers ${managers - 1} or ${managers + 1}`,
    );
  }
  if (workers !== undefined && (workers < 1 || workers > 50)) {
    throw new UsageError(
      `cannot scale target ${target} to ${workers} workers: every service needs at least 1 worker (at most 50)`,
      "use --workers 1 or more",
    );
  }
}

/** Refuses (exit 3) to change a cluster that is not healthy now, naming what is degraded. */
export function refuseUnlessHealthy(
  target: string,
  command: string,
  verdict: Pick<Verdict, "healthy" | "problems">,
): void {
  if (verdict.healthy) return;
  throw new ConflictError(
    `${command} refused: target ${target} is not healthy now:\n${verdict.problems.map((p) => `  ${p}`).join("\n")}`,
    "bring it back first (elm-infra bring-up replaces a dead host; elm-infra status shows the same checks), then run again",
  );
}

const countOf = (target: string, names: readonly string[], role: HostRole) =>
  names.filter((n) => parseHostName(target, n)?.role === role).length;

/** The plan for `scale`: which hosts come, which go and in what order. */
export function planScale(input: ScaleInput): ScalePlan {
  checkRequestedCounts(input.target, input.requested);
  const from = {
    managers: countOf(input.target, input.existing, "manager"),
    workers: countOf(input.target, input.existing, "worker"),
  };
  const to = {
    managers: input.requested.managers ?? input.configured.managers,
    workers: input.requested.workers ?? input.configured.workers,
  };
  const hosts = planHosts({ target: input.target, ...to, existing: input.existing });
  return {
    from,
    to,
    create: hosts.created,
    remove: removalOrder(input.target, hosts.removed),
    notes: spreadNotes(input.services, to.workers),
    unchanged: hosts.created.length === 0 && hosts.removed.length === 0,
    configuredDiffers:
      input.configured.managers !== from.managers || input.configured.workers !== from.workers,
  };
}

/**
 * Workers go before managers (the servers stay as they are while allocations move), each role
 * from its highest number down.
 */
export function removalOrder(target: string, names: readonly string[]): string[] {
  const parsed = names.map((name) => parseHostName(target, name)!);
  const rank = (role: HostRole) => (role === "worker" ? 0 : 1);
  return parsed.sort((a, b) => rank(a.role) - rank(b.role) || b.n - a.n).map((h) => h.name);
}

function spreadNotes(services: Record<string, { count: number }>, workers: number): string[] {
  return Object.entries(services)
    .filter(([, s]) => s.count > workers)
    .map(
      ([name, s]) =>
        `${name} runs ${s.count} instances on ${workers} worker${workers === 1 ? "" : "s"}: they cannot all be on different workers, so one worker's loss takes more than one`,
    );
}

/** One line for the confirmation question and the summary. */
export function describeScalePlan(p: Pick<ScalePlan, "from" | "to" | "create" | "remove">): string {
  const counts = `managers ${p.from.managers} -> ${p.to.managers}, workers ${p.from.workers} -> ${p.to.workers}`;
  if (p.create.length + p.remove.length === 0) return `${counts}: no host to create or remove`;
  const parts = [
    ...(p.create.length > 0 ? [`create ${p.create.join(", ")}`] : []),
    ...(p.remove.length > 0 ? [`then remove one at a time: ${p.remove.join(", ")}`] : []),
  ];
  return `${counts} (${parts.join("; ")})`;
}

export interface ReplacePlan {
  host: string;
  role: HostRole;
  /** The new host: the same role, a number no host has. */
  create: [string];
  remove: [string];
}

/** The plan for `replace <host>`: one new host of its role joins, then the host leaves. */
export function planReplace(
  target: string,
  existing: readonly string[],
  host: string,
): ReplacePlan {
  const old = existing.includes(host) ? parseHostName(target, host) : undefined;
  if (!old) {
    throw new UsageError(
      `cannot replace ${host}: no such host in target ${target}`,
      `the hosts are: ${existing.join(", ") || "none yet (bring the target up first)"}`,
    );
  }
  const counts = {
    managers: countOf(target, existing, "manager"),
    workers: countOf(target, existing, "worker"),
  };
  counts[old.role === "manager" ? "managers" : "workers"] += 1;
  const grown = planHosts({ target, ...counts, existing });
  return { host, role: old.role, create: [grown.created[0]!], remove: [host] };
}
