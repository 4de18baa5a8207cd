import { hostnamesOf } from "../config/load.js";
import { UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { consulServiceName } from "../plan/job-vars.js";
import { connectToCluster } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";

export interface ServiceStatus {
  service: string;
  deployed: boolean;
  version: string | null;
  jobVersion: number | null;
  jobStatus: string | null;
  deployment: { id: string; status: string; description: string } | null;
  allocations: Array<{
    id: string;
    node: string;
    version: string | null;
    status: string;
    healthy: boolean | null;
    canary: boolean;
  }>;
  traefik: { router: string; routerStatus: string | null; servers: Record<string, string> };
  hostnames: string[];
}

/** `status [service]`: what runs, where, and whether Traefik routes to it. */
export async function status(
  ctx: CommandContext,
  only?: string,
): Promise<{ target: string; services: ServiceStatus[] }> {
  const config = await ctx.loadConfig();
  const names = Object.keys(config.services);
  if (only !== undefined && !names.includes(only)) {
    throw new UsageError(`unknown service ${quote(only)}`, `known services: ${names.join(", ")}`);
  }
  const apis = await connectToCluster(config);
  try {
    const services: ServiceStatus[] = [];
    for (const service of only ? [only] : names)
      services.push(await serviceStatus(apis, config, service));
    return { target: config.targetName, services };
  } finally {
    await apis.close();
  }
}

async function serviceStatus(
  apis: Awaited<ReturnType<typeof connectToCluster>>,
  config: Awaited<ReturnType<CommandContext["loadConfig"]>>,
  service: string,
): Promise<ServiceStatus> {
  const router = consulServiceName(service);
  const [job, deployment, allocs, r, s] = await Promise.all([
    apis.nomad.readJob(service),
    apis.nomad
      .latestDeployment(service)
      .then((d) => d.data)
      .catch(() => null),
    apis.nomad
      .jobAllocations(service)
      .then((a) => a.data)
      .catch(() => []),
    apis.traefik.router(router).catch(() => undefined),
    apis.traefik.service(router).catch(() => undefined),
  ]);
  const versions = new Map<number, string | undefined>();
  if (job)
    for (const v of await apis.nomad.jobVersions(service).catch(() => []))
      versions.set(v.Version ?? -1, v.Meta?.version);
  return {
    service,
    deployed: !!job,
    version: job?.Meta?.version ?? null,
    jobVersion: job?.Version ?? null,
    jobStatus: job?.Status ?? null,
    deployment: deployment
      ? { id: deployment.ID, status: deployment.Status, description: deployment.StatusDescription }
      : null,
    allocations: allocs
      .filter((a) => a.DesiredStatus === "run")
      .map((a) => ({
        id: a.ID.slice(0, 8),
        node: a.NodeName ?? a.NodeID.slice(0, 8),
        version: versions.get(a.JobVersion) ?? null,
        status: a.ClientStatus,
        healthy: a.DeploymentStatus?.Healthy ?? null,
        canary: a.DeploymentStatus?.Canary ?? false,
      })),
    traefik: { router, routerStatus: r?.status ?? null, servers: s?.serverStatus ?? {} },
    hostnames: hostnamesOf(config, service),
  };
}

export function formatStatus(data: { target: string; services: ServiceStatus[] }): string {
  const lines = [`target ${data.target}`];
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
    }
    const servers = Object.entries(s.traefik.servers)
      .map(([url, st]) => `${url} ${st}`)
      .join(", ");
    lines.push(
      `  traefik router ${s.traefik.router}: ${s.traefik.routerStatus ?? "absent"}; servers: ${servers || "none"}`,
    );
    lines.push(`  hostnames: ${s.hostnames.join(", ")}`);
  }
  return lines.join("\n");
}
