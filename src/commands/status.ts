import { hostnamesOf, type LoadedConfig } from "../config/load.js";
import { ElmInfraError, OperationError, UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { consulServiceName } from "../plan/names.js";
import { withCluster, type ClusterApis } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";
import { readInventory } from "../cluster/inventory.js";
import { formatClusterView, readCluster, type ClusterView } from "../tasks/verify.js";
import { observeBackups } from "../tasks/package-data.js";
import { observeClusterSnapshots } from "../tasks/cluster-snapshots.js";
import { snapshotsAsBackup, type ClusterSnapshotsStatus } from "../plan/cluster-snapshots.js";
import { observedAllocation, observeStaleAllocations } from "../tasks/services.js";
import {
  findDegradations,
  formatAge,
  formatDegradations,
  type Degradation,
} from "../plan/health.js";
import {
  certificateSpecs,
  certificateVariable,
  servesHttps,
  type CertificateSpec,
} from "../plan/tls.js";
import { certificateFacts, certificateProblems, type ObservedCertificate } from "../plan/verify.js";
import type { NomadClient } from "../nomad/client.js";

export interface ServiceStatus {
  service: string;
  deployed: boolean;
  version: string | null;
  jobVersion: number | null;
  jobStatus: string | null;
  /** The job's desired count (all its groups). */
  count: number | null;
  deployment: { id: string; status: string; description: string } | null;
  allocations: Array<{
    id: string;
    node: string;
    version: string | null;
    status: string;
    healthy: boolean | null;
    canary: boolean;
    /** Why it cannot start, when its image could not be pulled (image, registry, reason, what to do). */
    pullFailure?: string;
  }>;
  traefik: {
    router: string;
    routerStatus: string | null;
    servers: Record<string, string>;
    /** Why Traefik could not be asked, when it could not. */
    error?: string;
  };
  hostnames: string[];
}

export interface StatusResult {
  target: string;
  cluster: ClusterView | null;
  services: ServiceStatus[];
  /** On a target that serves HTTPS: each certificate it needs, as stored (never its key). */
  certificates?: ObservedCertificate[];
  /** On a target of hosts: the cluster's snapshot job and when its newest run succeeded. */
  clusterSnapshots?: ClusterSnapshotsStatus;
  /** With `check`: everything degraded now (empty when nothing is). */
  degradations?: Degradation[];
}

/**
 * `status [service]`: what runs, where, and whether Traefik routes to it. With `check`, also
 * what is degraded (statusFailure turns that into exit 1).
 */
export async function status(
  ctx: CommandContext,
  only?: string,
  options: { check?: boolean } = {},
): Promise<StatusResult> {
  const config = await ctx.loadConfig();
  const names = Object.keys(config.services);
  if (only !== undefined && !names.includes(only)) {
    throw new UsageError(`unknown service ${quote(only)}`, `known services: ${names.join(", ")}`);
  }
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    // The cluster itself (hosts, roles, versions, bring-up's checks) above the services, when
    // the target is made of hosts (not the loopback dev agents).
    const inventory = config.target.endpoints ? undefined : await readInventory(config);
    const read = inventory ? await readCluster(config, apis, inventory) : undefined;
    const services: ServiceStatus[] = [];
    for (const service of only ? [only] : names)
      services.push(await serviceStatus(apis, config, service, ctx.signal));
    const unreachable = services.find((s) => s.traefik.error)?.traefik.error;
    if (unreachable) ctx.output.warn(`Traefik could not be asked: ${unreachable}`);
    const certificates = servesHttps(config.target)
      ? await readCertificates(
          apis.nomad,
          certificateSpecs(config).filter((c) => only === undefined || c.service === only),
        )
      : undefined;
    const clusterSnapshots =
      only === undefined ? await observeClusterSnapshots(config, apis) : undefined;
    const result: StatusResult = {
      target: config.targetName,
      cluster: read?.view ?? null,
      services,
      ...(certificates ? { certificates } : {}),
      ...(clusterSnapshots ? { clusterSnapshots } : {}),
    };
    if (!options.check) return result;
    const now = Date.now();
    const degradations = findDegradations({
      ...(inventory && read ? { inventory, cluster: read.observed } : {}),
      services: services.map((s) => ({
        ...s,
        // A service with data is pinned to its holder: its spread is not judged.
        pinned: !!config.services[s.service]?.data,
        ...(s.traefik.error ? {} : { traefikServers: s.traefik.servers }),
      })),
      staleAllocations: await observeStaleAllocations(apis, now),
      backups: [
        ...(await observeBackups(config, apis)),
        ...(clusterSnapshots ? [snapshotsAsBackup(clusterSnapshots)] : []),
      ],
      now,
    });
    // A certificate not issued, not covering its hostnames or close to expiry: the issuer's fault.
    for (const p of certificateProblems(certificates ?? [], new Date()))
      degradations.push({ kind: "cluster", ...p });
    return { ...result, degradations };
  });
}

async function serviceStatus(
  apis: ClusterApis,
  config: LoadedConfig,
  service: string,
  signal: AbortSignal,
): Promise<ServiceStatus> {
  const router = consulServiceName(service);
  // Nomad is the truth about what runs: if it cannot be asked, status fails and says why.
  const asking = { signal };
  const [job, deployment, allocs, versions] = await Promise.all([
    apis.nomad.readJob(service, asking),
    apis.nomad.latestDeployment(service, asking).then((d) => d.data),
    apis.nomad.jobAllocations(service, asking).then((a) => a.data),
    apis.nomad.jobVersions(service, asking),
  ]);
  const versionOf = new Map(versions.map((v) => [v.Version ?? -1, v.Meta?.version]));
  return {
    service,
    deployed: !!job,
    version: job?.Meta?.version ?? null,
    jobVersion: job?.Version ?? null,
    jobStatus: job?.Status ?? null,
    count: job ? (job.TaskGroups ?? []).reduce((n, g) => n + g.Count, 0) : null,
    deployment: deployment
      ? { id: deployment.ID, status: deployment.Status, description: deployment.StatusDescription }
      : null,
    allocations: allocs
      .filter((a) => a.DesiredStatus === "run")
      .map((a) => ({
        ...observedAllocation(a),
        version: versionOf.get(a.JobVersion) ?? null,
        canary: a.DeploymentStatus?.Canary ?? false,
      })),
    traefik: await traefikStatus(apis, router),
    hostnames: hostnamesOf(config, service),
  };
}

/**
 * What Traefik routes for the service. Traefik out of reach is said as that (with its address),
 * not as a router that is absent; the rest of the status still stands.
 */
async function traefikStatus(apis: ClusterApis, router: string): Promise<ServiceStatus["traefik"]> {
  try {
    const [r, s] = await Promise.all([apis.traefik.router(router), apis.traefik.service(router)]);
    return { router, routerStatus: r?.status ?? null, servers: s?.serverStatus ?? {} };
  } catch (error) {
    if (!(error instanceof ElmInfraError)) throw error;
    return { router, routerStatus: null, servers: {}, error: error.message };
  }
}

/**
 * Each certificate the target needs, read from its Nomad variable: only the `cert` item is looked
 * at (its facts are kept, not its text); the `key` item is never read out of the answer.
 */
export async function readCertificates(
  nomad: Pick<NomadClient, "readVariable">,
  specs: readonly CertificateSpec[],
): Promise<ObservedCertificate[]> {
  return Promise.all(
    specs.map(async (spec): Promise<ObservedCertificate> => {
      const variable = certificateVariable(spec.name);
      const observed = { variable, service: spec.service, wanted: spec.domains };
      let pem: string | undefined;
      try {
        const stored = await nomad.readVariable(variable);
        if (!stored) return observed;
        pem = stored.Items.cert;
      } catch (error) {
        if (!(error instanceof ElmInfraError)) throw error;
        return { ...observed, stored: { unreadable: `cannot be read: ${error.message}` } };
      }
      if (!pem) return { ...observed, stored: { unreadable: `${variable} has no cert item` } };
      try {
        return { ...observed, stored: certificateFacts(pem) };
      } catch (error) {
        return {
          ...observed,
          stored: {
            unreadable: `its cert item is not a PEM certificate (${(error as Error).message})`,
          },
        };
      }
    }),
  );
}

/** `status --check`'s verdict: exit 1 naming each degraded thing, while anything is. */
export function statusFailure(r: StatusResult): OperationError | undefined {
  if (!r.degradations || r.degradations.length === 0) return undefined;
  return new OperationError(
    `the cluster is degraded:\n${formatDegradations(r.degradations)
      .split("\n")
      .map((l) => `  ${l}`)
      .join("\n")}`,
    "run elm-infra status for the whole picture; bring-up replaces dead hosts and removes dead raft peers",
  );
}

export function formatStatus(data: {
  target: string;
  cluster?: ClusterView | null;
  services: ServiceStatus[];
  certificates?: ObservedCertificate[];
  clusterSnapshots?: ClusterSnapshotsStatus;
  degradations?: Degradation[];
}): string {
  const lines = [data.cluster ? formatClusterView(data.cluster) : `target ${data.target}`];
  for (const s of data.services) {
    if (!s.deployed) {
      lines.push(`\n${s.service}: not deployed`);
      continue;
    }
    lines.push(`\n${s.service} ${s.version ?? "?"} (job version ${s.jobVersion}, ${s.jobStatus})`);
    if (s.deployment)
      lines.push(
        `  deployment ${s.deployment.id.slice(0, 8)}: ${s.deployment.status} — ${s.deployment.description}`,
      );
    for (const a of s.allocations) {
      const health = a.healthy === null ? "health unknown" : a.healthy ? "healthy" : "unhealthy";
      lines.push(
        `  alloc ${a.id} on ${a.node}: ${a.version ?? "?"} ${a.status}, ${health}${a.canary ? ", canary" : ""}`,
      );
      if (a.pullFailure) lines.push(`    ${a.pullFailure}`);
    }
    const servers = Object.entries(s.traefik.servers)
      .map(([url, st]) => `${url} ${st}`)
      .join(", ");
    lines.push(
      s.traefik.error
        ? `  traefik router ${s.traefik.router}: unknown (${s.traefik.error})`
        : `  traefik router ${s.traefik.router}: ${s.traefik.routerStatus ?? "absent"}; servers: ${servers || "none"}`,
    );
    lines.push(`  hostnames: ${s.hostnames.join(", ")}`);
  }
  if (data.certificates) lines.push(`\n${formatCertificates(data.certificates)}`);
  if (data.clusterSnapshots)
    lines.push(`\n${formatClusterSnapshots(data.clusterSnapshots, Date.now())}`);
  if (data.degradations)
    lines.push(
      data.degradations.length === 0
        ? "\ncheck: nothing is degraded"
        : `\ncheck: ${data.degradations.length} degraded (listed below)`,
    );
  return lines.join("\n");
}

/** The certificates section: one line per certificate the target needs. */
export function formatCertificates(certificates: readonly ObservedCertificate[]): string {
  const lines = ["certificates"];
  for (const c of certificates) {
    const s = c.stored;
    lines.push(
      !s
        ? `  ${c.variable}: not issued yet (${c.wanted.join(", ")})`
        : "unreadable" in s
          ? `  ${c.variable}: unreadable: ${s.unreadable}`
          : `  ${c.variable}: ${s.domains.join(", ")}; issuer ${s.issuer}; serial ${s.serial}; valid until ${s.notAfter}`,
    );
  }
  return lines.join("\n");
}

/** The snapshots' line: the newest one's age, the schedule and how many each worker keeps. */
export function formatClusterSnapshots(s: ClusterSnapshotsStatus, now: number): string {
  if (!s.scheduled) return "cluster snapshots: not scheduled (run bring-up)";
  const newest = s.newestAt
    ? `newest ${formatAge(Math.max(0, Math.floor((now - Date.parse(s.newestAt)) / 1000)))} old (${s.newestAt})`
    : "none has succeeded yet";
  return `cluster snapshots (Nomad, Consul; encrypted with age): ${newest}; ${s.schedule}, newest ${s.keep} kept on each worker`;
}
