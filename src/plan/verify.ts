/**
 * Is the cluster what bring-up promises? Pure: the cluster's observed state in, one verdict per
 * check out. The I/O (the APIs read through the SSH tunnel) is in tasks/verify.ts.
 */
import type { HostRecord } from "./bring-up.js";

export interface RaftServer {
  node: string;
  address: string;
  leader: boolean;
  voter: boolean;
}

export interface ObservedCluster {
  nomad: {
    leader: string;
    servers: RaftServer[];
    autopilotHealthy: boolean;
    nodes: Array<{
      name: string;
      status: string;
      eligible: boolean;
      docker: { detected: boolean; healthy: boolean; description: string } | undefined;
    }>;
    version?: string;
  };
  consul: {
    leader: string;
    servers: RaftServer[];
    autopilotHealthy: boolean;
    /** Serf LAN members: Consul's status 1 is alive. */
    members: Array<{ name: string; status: number }>;
    version?: string;
  };
  /** Each worker's Traefik: did its ping answer, and what did it say. */
  traefik: Array<{ worker: string; ok: boolean; detail: string; version?: string }>;
  loadBalancer: { ok: boolean; detail: string } | undefined;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Verdict {
  healthy: boolean;
  checks: Check[];
  /** The failed checks' lines, for the error a failed verification raises. */
  problems: string[];
}

const memberStatus: Record<number, string> = {
  0: "none",
  1: "alive",
  2: "leaving",
  3: "left",
  4: "failed",
};

/** Raft names Nomad's servers `<node>.<region>`; Consul's, by the node name. */
export function sameNode(raftNode: string, host: string): boolean {
  return raftNode === host || raftNode.startsWith(`${host}.`);
}

function raftChecks(
  system: "Nomad" | "Consul",
  observed: { leader: string; servers: RaftServer[]; autopilotHealthy: boolean },
  managers: string[],
): Check[] {
  const checks: Check[] = [
    {
      name: `${system} has a leader`,
      ok: observed.leader !== "",
      detail: observed.leader || "no leader elected",
    },
  ];
  for (const m of managers) {
    const server = observed.servers.find((s) => sameNode(s.node, m));
    checks.push({
      name: `${system}: ${m} is a voter`,
      ok: !!server?.voter,
      detail: server ? (server.voter ? "voter" : "non-voter") : "not in the raft configuration",
    });
  }
  checks.push({
    name: `${system} autopilot is healthy`,
    ok: observed.autopilotHealthy,
    detail: observed.autopilotHealthy ? "healthy" : "unhealthy",
  });
  return checks;
}

/** Every check of bring-up's verification, against the hosts the inventory lists. */
export function verifyCluster(
  inventory: { hosts: ReadonlyArray<Pick<HostRecord, "name" | "role">> },
  observed: ObservedCluster,
): Verdict {
  const managers = inventory.hosts.filter((h) => h.role === "manager").map((h) => h.name);
  const workers = inventory.hosts.filter((h) => h.role === "worker").map((h) => h.name);
  const checks: Check[] = [
    ...raftChecks("Nomad", observed.nomad, managers),
    ...raftChecks("Consul", observed.consul, managers),
  ];
  for (const w of workers) {
    const node = observed.nomad.nodes.find((n) => n.name === w);
    const docker = node?.docker;
    const ok = node?.status === "ready" && node.eligible && !!docker?.detected && docker.healthy;
    checks.push({
      name: `Nomad: ${w} is ready with a healthy Docker driver`,
      ok,
      detail: !node
        ? "not registered with Nomad"
        : `${node.status}${node.eligible ? "" : ", ineligible"}, docker ${docker ? (docker.healthy ? "healthy" : `unhealthy: ${docker.description}`) : "not detected"}`,
    });
  }
  for (const h of inventory.hosts) {
    const member = observed.consul.members.find((m) => m.name === h.name);
    checks.push({
      name: `Consul: ${h.name} is an alive member`,
      ok: member?.status === 1,
      detail: member ? (memberStatus[member.status] ?? `status ${member.status}`) : "not a member",
    });
  }
  const strangers = observed.consul.members.filter(
    (m) => m.status === 1 && !inventory.hosts.some((h) => h.name === m.name),
  );
  if (strangers.length > 0)
    checks.push({
      name: "Consul has no member bring-up did not make",
      ok: false,
      detail: strangers.map((m) => m.name).join(", "),
    });
  for (const w of workers) {
    const t = observed.traefik.find((x) => x.worker === w);
    checks.push({
      name: `Traefik answers on ${w}`,
      ok: !!t?.ok,
      detail: t?.detail ?? "not probed",
    });
  }
  if (observed.loadBalancer)
    checks.push({
      name: "the load balancer answers",
      ok: observed.loadBalancer.ok,
      detail: observed.loadBalancer.detail,
    });
  const failed = checks.filter((c) => !c.ok);
  return {
    healthy: failed.length === 0,
    checks,
    problems: failed.map((c) => `${c.name}: ${c.detail}`),
  };
}
