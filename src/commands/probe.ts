import { hostnamesOf } from "../config/load.js";
import { OperationError, UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { targetTrust } from "../cluster/trust.js";
import { probeUrl, readInventory } from "../cluster/inventory.js";
import {
  failedRequests,
  formatProbeLine,
  probeSettings,
  startProbe,
  type ProbeReport,
} from "../traefik/probe.js";
import type { CommandContext } from "../tasks/context.js";

export { formatProbeReport } from "../traefik/probe.js";

export interface ProbeCommandOptions {
  seconds?: number;
  rate?: number;
  path?: string;
}

/**
 * `probe <hostname>`: a steady stream of requests through the target's load balancer, with a
 * progress line every few seconds; fails (exit 1, after the report) when any request failed.
 */
export async function probe(
  ctx: CommandContext,
  hostname: string,
  options: ProbeCommandOptions = {},
): Promise<ProbeReport> {
  if (options.path !== undefined && !/^\/[\x21-\x7e]*$/.test(options.path))
    throw new UsageError(
      `--path must be a path like /health, not ${quote(options.path)}`,
      "start it with a slash; no spaces",
    );
  probeSettings({
    ...(options.rate !== undefined ? { ratePerSecond: options.rate } : {}),
    ...(options.seconds !== undefined ? { seconds: options.seconds } : {}),
  });
  const config = await ctx.loadConfig();
  const known = Object.keys(config.services).flatMap((s) => hostnamesOf(config, s));
  if (!known.includes(hostname))
    throw new UsageError(
      `unknown hostname ${quote(hostname)}: no service of target ${config.targetName} serves it`,
      `hostnames on ${config.targetName}: ${known.join(", ")}`,
    );
  const url = probeUrl(config, await readInventory(config));
  if (!url)
    throw new OperationError(
      `target ${config.targetName} has no load balancer recorded`,
      `bring it up first: elm-infra bring-up --target ${config.targetName}`,
    );
  const trust = url.startsWith("https:") ? await targetTrust(config) : undefined;
  ctx.output.info(
    `probing ${hostname} through ${url}${trust ? ` (certificates verified against ${trust.source})` : ""}`,
  );
  return startProbe({
    url,
    hostname,
    ...(trust?.ca !== undefined ? { ca: trust.ca } : {}),
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.rate !== undefined ? { ratePerSecond: options.rate } : {}),
    ...(options.seconds !== undefined ? { seconds: options.seconds } : {}),
    signal: ctx.signal,
    onProgress: (r) => ctx.output.info(formatProbeLine(r)),
  }).done;
}

/** Why a probe run counts as failed (exit 1): any request without a good answer. */
export function probeFailure(r: ProbeReport): OperationError | undefined {
  const failed = failedRequests(r);
  if (failed === 0) return undefined;
  return new OperationError(
    `${failed} of ${r.sent} requests to ${r.hostname} failed (${r.non2xx} non-2xx, ${r.connectionErrors} connection errors)`,
    "the report lists the first failures; elm-infra status --check names what is degraded",
  );
}

export { probeUrl };
