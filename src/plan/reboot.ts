/**
 * `reboot`'s decisions, pure: which hosts, in what order, and what is refused. Workers go first
 * (each drained, rebooted and proven before the next; the package data's holder last of them, so
 * its data moves once), then the managers: followers first, the
 * leader last (its leadership transferred just before), one at a time while the others keep
 * quorum. A single manager is rebooted only when the user accepts that the APIs stop meanwhile.
 */
import { UsageError } from "../errors.js";
import type { HostRole } from "./hosts.js";
import { isHostServer, type RaftPeer } from "./retire.js";

export interface RebootCandidate {
  name: string;
  role: HostRole;
  /** `/run/reboot-required` exists on it (a package upgrade asked for a reboot). */
  needsReboot: boolean;
}

export interface RebootRequest {
  target: string;
  hosts: readonly RebootCandidate[];
  /** Hosts named on the command line (none: the ones that need a reboot, or all with `all`). */
  named: readonly string[];
  all: boolean;
  allowApiOutage: boolean;
  /** The host whose servers lead Nomad's or Consul's raft now, when known. */
  leaders: readonly string[];
  /**
   * The worker that holds the package data, when one does: it goes last of the workers, so its
   * data moves once, to a worker already done (first, it would move again when that one goes).
   */
  dataHolder?: string | undefined;
}

export interface RebootStep {
  host: string;
  role: HostRole;
  /** Why this host: named, needs a reboot, or --all. */
  why: "named" | "reboot required" | "all";
  /** A manager that leads now: its leadership is handed to another server first. */
  leads: boolean;
}

export interface RebootPlan {
  order: RebootStep[];
  /** With a single manager rebooted: the APIs are away while it reboots (the sites keep serving). */
  apiOutage: boolean;
}

/** `reboot`'s order and refusals; throws UsageError for a request that cannot be run as asked. */
export const planReboots = (r: RebootRequest): RebootPlan =>
  planHostCycles(r, { managersFirst: false, while: "while it reboots" });

/**
 * `upgrade`'s: every host, the servers first (followers, then the leader) as HashiCorp's upgrade
 * guides ask, then the workers.
 */
export const planUpgrade = (
  r: Pick<RebootRequest, "target" | "hosts" | "allowApiOutage" | "leaders" | "dataHolder">,
): RebootPlan =>
  planHostCycles(
    { ...r, named: [], all: true },
    { managersFirst: true, while: "while its agents restart" },
  );

function planHostCycles(
  r: RebootRequest,
  o: { managersFirst: boolean; while: string },
): RebootPlan {
  if (r.all && r.named.length > 0)
    throw new UsageError(
      "name hosts or give --all, not both",
      `elm-infra reboot --all, or elm-infra reboot ${r.named.join(" ")}`,
    );
  const known = new Map(r.hosts.map((h) => [h.name, h]));
  const unknown = r.named.filter((n) => !known.has(n) && !known.has(`${r.target}-${n}`));
  if (unknown.length > 0)
    throw new UsageError(
      `not a host of target '${r.target}': ${unknown.join(", ")}`,
      `its hosts: ${r.hosts.map((h) => h.name).join(", ")}`,
    );
  const chosen: Array<{ host: RebootCandidate; why: RebootStep["why"] }> = r.all
    ? r.hosts.map((host) => ({ host, why: "all" as const }))
    : r.named.length > 0
      ? [...new Set(r.named.map((n) => known.get(n) ?? known.get(`${r.target}-${n}`)!))].map(
          (host) => ({ host, why: "named" as const }),
        )
      : r.hosts
          .filter((h) => h.needsReboot)
          .map((host) => ({ host, why: "reboot required" as const }));

  const managers = r.hosts.filter((h) => h.role === "manager");
  const leaders = new Set(r.leaders);
  const rank = (c: (typeof chosen)[number]) =>
    c.host.role === "worker"
      ? (o.managersFirst ? 3 : 0) + (c.host.name === r.dataHolder ? 0.5 : 0)
      : leaders.has(c.host.name)
        ? 2
        : 1;
  const order = [...chosen]
    .sort((a, b) => rank(a) - rank(b) || a.host.name.localeCompare(b.host.name))
    .map(({ host, why }) => ({
      host: host.name,
      role: host.role,
      why,
      leads: host.role === "manager" && managers.length > 1 && leaders.has(host.name),
    }));

  const apiOutage = managers.length === 1 && order.some((s) => s.role === "manager");
  if (apiOutage && !r.allowApiOutage)
    throw new UsageError(
      `${managers[0]!.name} is the only manager: ${o.while}, Nomad's and Consul's APIs do not answer (the sites keep serving from the workers)`,
      order.length > 1 && !o.managersFirst
        ? `accept that with --allow-api-outage, or reboot the workers alone: elm-infra reboot ${order
            .filter((s) => s.role === "worker")
            .map((s) => s.host)
            .join(" ")}`
        : "accept that with --allow-api-outage, or add managers first (scale --managers 3)",
    );
  return { order, apiOutage };
}

/**
 * Why rebooting this manager now would lose quorum or meet unhealthy servers; none means it may
 * go. With the others' votes alone the servers must still be a majority of the voters.
 */
export function managerRebootRefusals(o: {
  host: { name: string; privateAddress: string };
  system: "Nomad" | "Consul";
  servers: readonly RaftPeer[];
  autopilotHealthy: boolean;
  /** A single manager's reboot was accepted (--allow-api-outage). */
  apiOutageAccepted: boolean;
}): string[] {
  const voters = o.servers.filter((s) => s.Voter);
  const others = voters.filter((s) => !isHostServer(s, o.host)).length;
  const reasons: string[] = [];
  if (!o.autopilotHealthy)
    reasons.push(`${o.system}'s autopilot reports the servers unhealthy now`);
  if (voters.length > 1 && others <= voters.length / 2)
    reasons.push(
      `${o.system} would lose quorum: ${others} of ${voters.length} voters would be left while it reboots`,
    );
  if (voters.length <= 1 && !o.apiOutageAccepted)
    reasons.push(`${o.system} has no other server: its API stops while this one reboots`);
  return reasons;
}

/**
 * A shell line that prints the boot's identity, the same on a VM and on a host container: the
 * kernel's boot id changes at each boot of a VM; a container shares its machine's kernel, and
 * there its PID 1's start time (clock ticks since the kernel booted) changes at each start.
 */
export const bootIdentityCommand =
  "printf '%s-%s\\n' \"$(cat /proc/sys/kernel/random/boot_id)\" \"$(cut -d' ' -f22 /proc/1/stat)\"";
