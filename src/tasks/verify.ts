/**
 * The cluster as it is: read through the SSH tunnel (Nomad, Consul), each worker's own Traefik
 * and the load balancer, then judged by plan/verify.ts. Bring-up ends with it; status shows it.
 */
import type { LoadedConfig } from "../config/load.js";
import { done, notYet, waitFor, WaitTimeoutError } from "../wait.js";
import { TraefikClient } from "../traefik/client.js";
import { withCluster, type ClusterApis } from "../cluster/connect.js";
import { workersOf, type Inventory } from "../cluster/inventory.js";
import { verifyCluster, type Check, type ObservedCluster, type Verdict } from "../plan/verify.js";
import { proveWorkerTraefik } from "./ingress.js";

export interface ClusterView {
  target: string;
  hosts: Array<{
    name: string;
    role: "manager" | "worker";
    privateAddress: string;
    ssh: string;
  }>;
  loadBalancer: string | null;
  versions: { nomad: string | null; consul: string | null; traefik: string | null };
  healthy: boolean;
  checks: Verdict["checks"];
}

const settled = <T>(p: Promise<T>, fallback: T): Promise<T> => p.catch(() => fallback);

/** Reads everything the verdict needs; an API that does not answer reads as empty, not as a crash. */
export async function observeCluster(
  config: LoadedConfig,
  apis: ClusterApis,
  inventory: Inventory,
): Promise<ObservedCluster & { traefikVersion: string | null }> {
  const [nomadLeader, nomadRaft, nomadAutopilot, nodes] = await Promise.all([
    settled(apis.nomad.leader(), ""),
    settled(apis.nomad.raftConfiguration(), { Servers: [] }),
    settled(apis.nomad.autopilotHealth(), { Healthy: false, FailureTolerance: 0, Servers: [] }),
    settled(apis.nomad.nodes(), []),
  ]);
  const [consulLeader, consulRaft, consulAutopilot, members] = await Promise.all([
    settled(apis.consul.leader(), ""),
    settled(apis.consul.raftConfiguration(), { Servers: [] }),
    settled(apis.consul.autopilotHealth(), { Healthy: false, FailureTolerance: 0 }),
    settled(apis.consul.members(), []),
  ]);
  const traefik = await Promise.all(
    workersOf(inventory).map(async (w) => ({
      worker: w.name,
      ...(await proveWorkerTraefik(config, w)),
    })),
  );
  const ingress = await settled(apis.nomad.readJob("ingress"), undefined);
  const lb = inventory.loadBalancer;
  const raft = (s: { Node: string; Address: string; Leader: boolean; Voter: boolean }) => ({
    node: s.Node,
    address: s.Address,
    leader: s.Leader,
    voter: s.Voter,
  });
  return {
    nomad: {
      leader: nomadLeader,
      servers: nomadRaft.Servers.map(raft),
      autopilotHealthy: nomadAutopilot.Healthy,
      nodes: nodes.map((n) => {
        const docker = n.Drivers?.docker;
        return {
          name: n.Name,
          status: n.Status,
          eligible: n.SchedulingEligibility === "eligible",
          docker: docker
            ? {
                detected: docker.Detected ?? false,
                healthy: docker.Healthy ?? false,
                description: docker.HealthDescription ?? "",
              }
            : undefined,
        };
      }),
      ...(nodes[0]?.Version ? { version: nodes[0].Version } : {}),
    },
    consul: {
      leader: consulLeader,
      servers: consulRaft.Servers.map(raft),
      autopilotHealthy: consulAutopilot.Healthy,
      members: members.map((m) => ({ name: m.Name, status: m.Status })),
      ...(members[0]?.Tags.build ? { version: members[0].Tags.build.split(":")[0]! } : {}),
    },
    traefik,
    loadBalancer: lb ? await probeLoadBalancer(lb) : undefined,
    traefikVersion:
      (ingress?.TaskGroups?.[0] as { Meta?: Record<string, string> } | undefined)?.Meta?.version ??
      null,
  };
}

/** The load balancer answers when a request through it reaches a Traefik (any status below 500). */
async function probeLoadBalancer(lb: NonNullable<Inventory["loadBalancer"]>) {
  const client = new TraefikClient({
    api: "http://127.0.0.1:1",
    entrypoint: `http://${lb.host}:${lb.httpPort}`,
    deadlineMs: 3000,
  });
  const res = await client.probe("elm-infra-health-check.invalid", "/").catch((e: Error) => e);
  if (res instanceof Error) return { ok: false, detail: res.message };
  return { ok: res.status < 500, detail: `${lb.host}:${lb.httpPort} answered ${res.status}` };
}

export function clusterView(
  config: Pick<LoadedConfig, "targetName">,
  inventory: Inventory,
  observed: Awaited<ReturnType<typeof observeCluster>>,
  verdict: Verdict,
): ClusterView {
  const lb = inventory.loadBalancer;
  return {
    target: config.targetName,
    hosts: inventory.hosts.map((h) => ({
      name: h.name,
      role: h.role,
      privateAddress: h.privateAddress,
      ssh: `${h.ssh.host}:${h.ssh.port}`,
    })),
    loadBalancer: lb ? `http://${lb.host}:${lb.httpPort} (https ${lb.host}:${lb.httpsPort})` : null,
    versions: {
      nomad: observed.nomad.version ?? null,
      consul: observed.consul.version ?? null,
      traefik: observed.traefikVersion,
    },
    healthy: verdict.healthy,
    checks: verdict.checks,
  };
}

/**
 * Observes until every check passes or the deadline comes (agents elect leaders and nodes
 * register within seconds of a bootstrap); returns the last view either way.
 */
export async function verifyUntilHealthy(
  config: LoadedConfig,
  inventory: Inventory,
  options: {
    deadlineMs?: number;
    signal: AbortSignal;
    log?: (line: string) => void;
    /** Checks that do not count yet (the ingress before it is deployed). */
    ignore?: (check: Check) => boolean;
  },
): Promise<ClusterView> {
  const counts = (c: Check) => !options.ignore?.(c);
  return withCluster(config, { signal: options.signal }, async (apis) => {
    let view: ClusterView | undefined;
    let said = "";
    // At the deadline the last view is returned: its failed checks are the caller's verdict.
    return await waitFor(
      {
        what: "the cluster to be healthy",
        timeoutMs: options.deadlineMs ?? 180_000,
        intervalMs: 3000,
        signal: options.signal,
      },
      async () => {
        const observed = await observeCluster(config, apis, inventory);
        const verdict = verifyCluster(inventory, observed);
        view = clusterView(config, inventory, observed, verdict);
        const failed = verdict.checks.filter((c) => !c.ok && counts(c));
        if (failed.length === 0) return done(view);
        const now = failed.map((c) => `${c.name}: ${c.detail}`).join("; ");
        if (now !== said) options.log?.(`waiting: ${now}`);
        said = now;
        return notYet(now);
      },
    ).catch((error: unknown) => {
      if (error instanceof WaitTimeoutError && view) return view;
      throw error;
    });
  });
}

/** The cluster for `status`: one look, no waiting; the view, and what it was made from. */
export async function readCluster(
  config: LoadedConfig,
  apis: ClusterApis,
  inventory: Inventory,
): Promise<{ view: ClusterView; observed: ObservedCluster }> {
  const observed = await observeCluster(config, apis, inventory);
  return {
    view: clusterView(config, inventory, observed, verifyCluster(inventory, observed)),
    observed,
  };
}

/** The cluster view for `status`: one look, no waiting. */
export async function readClusterView(
  config: LoadedConfig,
  apis: ClusterApis,
  inventory: Inventory,
): Promise<ClusterView> {
  return (await readCluster(config, apis, inventory)).view;
}

export function formatClusterView(v: ClusterView): string {
  const lines = [
    `cluster ${v.target}: ${v.healthy ? "healthy" : "NOT healthy"} (Nomad ${v.versions.nomad ?? "?"}, Consul ${v.versions.consul ?? "?"}, Traefik ${v.versions.traefik ?? "?"})`,
  ];
  for (const h of v.hosts)
    lines.push(
      `  ${h.name.padEnd(24)} ${h.role.padEnd(8)} ${h.privateAddress.padEnd(15)} ssh ${h.ssh}`,
    );
  if (v.loadBalancer) lines.push(`  load balancer ${v.loadBalancer}`);
  for (const c of v.checks.filter((c) => !c.ok)) lines.push(`  ✖ ${c.name}: ${c.detail}`);
  return lines.join("\n");
}
