import { abortReason, OperationError } from "../errors.js";
import { CertificateError, sleep } from "../http.js";
import type { ProbeResult, TraefikClient } from "./client.js";

export interface VerifyOptions {
  timeoutMs: number;
  signal: AbortSignal;
  onProgress?: (line: string) => void;
}

const pollMs = 1000;

/**
 * Proves the canary is reachable through Traefik before promotion: its router exists and is
 * enabled, its server is UP, and a request with the canary header through the canary entrypoint
 * (on the worker's loopback, reached through the SSH tunnel) returns the new version.
 */
export async function verifyCanaryRoute(
  traefik: TraefikClient,
  route: { consulService: string; hostname: string; healthPath: string; version: string },
  options: VerifyOptions,
): Promise<void> {
  const router = `${route.consulService}-canary`;
  const deadline = Date.now() + options.timeoutMs;
  let last = "the canary router did not appear";
  for (let round = 0; round < 600 && Date.now() < deadline; round++) {
    if (options.signal.aborted) throw abortReason(options.signal);
    const r = await traefik.router(router);
    const s = r ? await traefik.service(router) : undefined;
    const up = Object.values(s?.serverStatus ?? {}).filter((v) => v === "UP").length;
    if (!r) last = `router ${router} does not exist yet`;
    else if (r.status !== "enabled") last = `router ${router} is ${r.status}`;
    else if (up === 0) last = `service ${router} has no server UP`;
    else {
      const probe = await traefik.probeCanary(route.hostname, route.healthPath);
      if (probe.status === 200 && probe.version === route.version) {
        options.onProgress?.(
          `canary answers ${route.version} through Traefik (router ${router}, ${up} server(s) UP)`,
        );
        return;
      }
      last = `canary request answered ${probe.status} with version ${probe.version ?? "none"}`;
    }
    if (round % 5 === 0) options.onProgress?.(`waiting: ${last}`);
    await sleep(pollMs, options.signal);
  }
  throw new OperationError(
    `the canary could not be proven through Traefik: ${last}`,
    `check that Traefik's Consul catalog provider sees ${route.consulService}'s canary tags: elm-infra status`,
  );
}

/**
 * Proves every hostname serves `version` through Traefik: each must answer it on `consecutive`
 * requests in a row (old instances may linger for a moment after a deployment succeeds). On an
 * HTTPS target a certificate that does not verify is retried until the deadline (the issuer may
 * still be issuing it), then said as that, with its hint; a hostname in `redirects` must answer
 * with a redirect to https://<its apex> instead (over a certificate valid for it too).
 */
export async function verifyHostnamesServe(
  traefik: TraefikClient,
  route: {
    hostnames: string[];
    healthPath: string;
    version: string;
    /** Hostnames that answer with a redirect to another (www. to the apex on HTTPS targets). */
    redirects?: Record<string, string>;
  },
  options: VerifyOptions & { consecutive?: number },
): Promise<void> {
  const need = options.consecutive ?? 3;
  const deadline = Date.now() + options.timeoutMs;
  for (const hostname of route.hostnames) {
    const to = route.redirects?.[hostname];
    const promise = to ? `redirect to ${to}` : `serve ${route.version}`;
    let streak = 0;
    let last = "no answer yet";
    let refused: CertificateError | undefined;
    for (let round = 0; round < 600 && streak < need; round++) {
      if (options.signal.aborted) throw abortReason(options.signal);
      if (Date.now() > deadline) {
        throw new OperationError(
          `${hostname} does not ${promise} through Traefik: ${refused?.message ?? last}`,
          refused?.hint ??
            "check that Traefik routes the hostname and the allocations answer their health path: elm-infra status",
        );
      }
      const probe = await traefik.probe(hostname, route.healthPath).catch((e: Error) => e);
      refused = probe instanceof CertificateError ? probe : undefined;
      if (!(probe instanceof Error) && (to ? redirectsTo(probe, to) : serves(probe, route.version)))
        streak += 1;
      else {
        streak = 0;
        last =
          probe instanceof Error
            ? probe.message
            : `answered ${probe.status} with ${to ? `location ${probe.location ?? "none"}` : `version ${probe.version ?? "none"}`}`;
        await sleep(pollMs / 2, options.signal);
      }
    }
    options.onProgress?.(`${hostname} ${to ? `redirects to ${to}` : `serves ${route.version}`}`);
  }
}

const serves = (probe: ProbeResult, version: string) =>
  probe.status === 200 && probe.version === version;

/** Pure: a permanent or temporary redirect to `https://<to>/...`. */
export function redirectsTo(probe: Pick<ProbeResult, "status" | "location">, to: string): boolean {
  if (![301, 302, 307, 308].includes(probe.status) || !probe.location) return false;
  try {
    const url = new URL(probe.location);
    return url.protocol === "https:" && url.host === to;
  } catch {
    return false;
  }
}
