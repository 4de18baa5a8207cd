/**
 * Is the cluster what bring-up promises? Pure: the cluster's observed state in, one verdict per
 * check out; and on an HTTPS target, are its certificates there and far enough from expiry. The I/O (the APIs read through the SSH tunnel) is in tasks/verify.ts.
 */
import { X509Certificate } from "node:crypto";
import type { HostRecord } from "./bring-up.js";
import { expiryProblem } from "./tls.js";

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

// ---------------------------------------------------------------------------------------------
// Certificates (HTTPS targets): what each certs/<name> variable holds, and what is wrong with it.

/** What a stored certificate says of itself: read from its PEM (the leaf, first in the chain). */
export interface CertificateFacts {
  /** The DNS names it is for (its subjectAltName). */
  domains: string[];
  /** The issuer's common name (Pebble's intermediate, Let's Encrypt's R11, ...). */
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
}

/** One certificate the target needs, as status observed it. */
export interface ObservedCertificate {
  /** Its Nomad variable: certs/<name>. */
  variable: string;
  service: string;
  /** The hostnames it must cover. */
  wanted: string[];
  /** Absent: no variable (not issued yet); `unreadable`: the variable could not be read or parsed. */
  stored?: CertificateFacts | { unreadable: string };
}

/**
 * Pure: the leaf certificate of a PEM chain, said as facts. Reads only the `cert` item's text;
 * a private key never comes here. Throws when the text holds no certificate.
 */
export function certificateFacts(pem: string): CertificateFacts {
  const leaf = new X509Certificate(pem);
  const cn = /^CN=(.*)$/m.exec(leaf.issuer)?.[1];
  return {
    domains: (leaf.subjectAltName ?? "")
      .split(", ")
      .filter((n) => n.startsWith("DNS:"))
      .map((n) => n.slice(4)),
    issuer: cn ?? leaf.issuer.replace(/\n/g, ", "),
    serial: leaf.serialNumber,
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

/**
 * Pure: what is wrong with the target's certificates now: one not issued yet, one that cannot be
 * read, one that does not cover a hostname, one expired or close to expiry (expiryProblem: under a
 * quarter of its lifetime left means the issuer is not renewing it).
 */
export function certificateProblems(
  certificates: readonly ObservedCertificate[],
  now: Date,
): Array<{ subject: string; detail: string }> {
  const found: Array<{ subject: string; detail: string }> = [];
  for (const c of certificates) {
    const subject = `certificate ${c.variable} (${c.wanted.join(", ")})`;
    const stored = c.stored;
    if (!stored) {
      found.push({ subject, detail: `not issued yet: no Nomad variable ${c.variable}` });
      continue;
    }
    if ("unreadable" in stored) {
      found.push({ subject, detail: stored.unreadable });
      continue;
    }
    const missing = c.wanted.filter((h) => !stored.domains.includes(h));
    if (missing.length > 0) found.push({ subject, detail: `does not cover ${missing.join(", ")}` });
    const expiry = expiryProblem(
      { notBefore: new Date(stored.notBefore), notAfter: new Date(stored.notAfter) },
      now,
    );
    if (expiry) found.push({ subject, detail: expiry });
  }
  return found;
}
