import { CertificateError } from "../http.js";
import { done, notYet, sleep, waitFor, WaitTimeoutError } from "../wait.js";
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
  await waitFor(
    {
      what: "the canary to answer through Traefik",
      timeoutMs: options.timeoutMs,
      intervalMs: pollMs,
      maxAttempts: 600,
      signal: options.signal,
      message: (t) =>
        `the canary could not be proven through Traefik: ${t.last || "the canary router did not appear"}`,
      hint: `check that Traefik's Consul catalog provider sees ${route.consulService}'s canary tags: elm-infra status`,
    },
    async (round) => {
      const last = await lookAtCanary(traefik, router, route);
      if (last === undefined) return done(undefined);
      if (round % 5 === 1) options.onProgress?.(`waiting: ${last}`);
      return notYet(last);
    },
  );
  options.onProgress?.(`canary answers ${route.version} through Traefik (router ${router})`);
}

/** One look at the canary's router, service and answer: undefined when it serves, else why not. */
async function lookAtCanary(
  traefik: TraefikClient,
  router: string,
  route: { hostname: string; healthPath: string; version: string },
): Promise<string | undefined> {
  const r = await traefik.router(router);
  const s = r ? await traefik.service(router) : undefined;
  const up = Object.values(s?.serverStatus ?? {}).filter((v) => v === "UP").length;
  if (!r) return `router ${router} does not exist yet`;
  if (r.status !== "enabled") return `router ${router} is ${r.status}`;
  if (up === 0) return `service ${router} has no server UP`;
  const probe = await traefik.probeCanary(route.hostname, route.healthPath);
  if (probe.status === 200 && probe.version === route.version) return undefined;
  return `canary request answered ${probe.status} with version ${probe.version ?? "none"}`;
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
    let refused: CertificateError | undefined;
    // One deadline for every hostname; a failed look pauses, a good one asks again at once.
    await waitFor(
      {
        what: `${hostname} to ${promise} through Traefik`,
        timeoutMs: Math.max(0, deadline - Date.now()),
        intervalMs: 0,
        maxAttempts: 600,
        signal: options.signal,
        message: (t) =>
          `${hostname} does not ${promise} through Traefik: ${refused?.message ?? (t.last || "no answer yet")}`,
      },
      async (_round, signal) => {
        const probe = await traefik.probe(hostname, route.healthPath).catch((e: Error) => e);
        refused = probe instanceof CertificateError ? probe : undefined;
        if (
          !(probe instanceof Error) &&
          (to ? redirectsTo(probe, to) : serves(probe, route.version))
        )
          return ++streak >= need ? done(undefined) : notYet(`${streak} of ${need} answers`);
        streak = 0;
        await sleep(pollMs / 2, signal);
        return notYet(
          probe instanceof Error
            ? probe.message
            : `answered ${probe.status} with ${to ? `location ${probe.location ?? "none"}` : `version ${probe.version ?? "none"}`}`,
        );
      },
    ).catch((error: unknown) => {
      // The refusal's own hint (the certificate) says more than the generic one.
      if (error instanceof WaitTimeoutError)
        throw new WaitTimeoutError(
          error.message,
          refused?.hint ??
            "check that Traefik routes the hostname and the allocations answer their health path: elm-infra status",
          error.what,
          error.last,
          error.attempts,
        );
      throw error;
    });
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
