/**
 * Proof that an allocation's deregistration reaches every worker's Traefik now, not only that
 * each Traefik's routes equal the catalog. The path has two links that can stall after Consul's
 * servers were away (a manager's reboot or restart), each keeping the last routes, which equal
 * the catalog when nothing changed meanwhile:
 * - a worker's Consul agent whose sync with the servers failed retries it only 15 to 30 s later,
 *   and takes no change to the servers until then;
 * - Traefik's Consul provider retries with an exponential backoff after errors.
 * An allocation stopped in that window leaves its agent but not the catalog or Traefik's routes,
 * and requests sent to it after the job's shutdown delay fail (502). So a mark is registered
 * through each worker's agent, with ports never used before, and every worker's Traefik must
 * route to them all.
 */
import type { ConsulClient } from "../consul/client.js";
import type { TraefikClient } from "../traefik/client.js";
import { done, notYet, waitFor } from "../wait.js";

/** The mark's Consul service, and Traefik's service of it (`<name>@consulcatalog`). */
export const catalogMark = "elm-infra-catalog-mark";
/** The mark's router's hostname: under `.invalid`, which no visitor can ask for (RFC 2606). */
export const catalogMarkHostname = `${catalogMark}.invalid`;

/** A worker's Consul agent and its Traefik's API, named for messages. */
export interface WorkerCatalogPath {
  name: string;
  /** The worker's own Consul agent: what registers and deregisters its allocations' services. */
  consul: ConsulClient;
  traefik: TraefikClient;
}

/**
 * Registers the mark through each worker's own Consul agent, each with a fresh port, waits
 * (bounded) until every worker's Traefik routes to all those ports, then deregisters them;
 * deregistered also on failure. So each agent syncs its changes to the servers again (as an
 * allocation's deregistration will), and each Traefik reads the catalog again. Nothing listens on
 * the ports and no visitor asks for the hostname: the mark carries no request. Returns how long
 * it took (ms).
 */
export async function proveTraefiksReadCatalog(
  workers: readonly WorkerCatalogPath[],
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<number> {
  const began = Date.now();
  // Fresh each time (a Traefik that still routes to an earlier mark is told apart), one per
  // worker, unprivileged: from 20000 to 59999.
  const base = 20_000 + Math.floor(Math.random() * (40_000 - workers.length));
  const marks = workers.map((w, i) => ({ ...w, port: base + i }));
  const registered: typeof marks = [];
  try {
    for (const m of marks) {
      await m.consul.registerService({
        ID: catalogMark,
        Name: catalogMark,
        Port: m.port,
        Tags: [
          "traefik.enable=true",
          `traefik.http.routers.${catalogMark}.rule=Host(\`${catalogMarkHostname}\`)`,
        ],
      });
      registered.push(m);
    }
    let behind: string[] = [];
    await waitFor(
      {
        what: "every worker's Traefik to read Consul's catalog",
        timeoutMs: options.timeoutMs ?? 120_000,
        intervalMs: 250,
        ...(options.signal ? { signal: options.signal } : {}),
        message: (t) =>
          `Consul's catalog does not reach every worker's Traefik within ${t.seconds} s: ${behind.join("; ")} (a service registered through each worker's Consul agent, ${catalogMark})`,
        hint: "a Consul agent retries a failed sync after 15 to 30 s; Traefik's Consul provider retries with a backoff after errors; their logs say what they met (journalctl -u consul, nomad alloc logs -job ingress). Nothing was moved",
      },
      async () => {
        behind = [];
        for (const { name, traefik } of workers) {
          const seen = await traefik.service(catalogMark).catch(() => undefined);
          const urls = (seen?.loadBalancer?.servers ?? []).map((s) => s.url);
          const missing = marks.filter((m) => !urls.some((u) => u.endsWith(`:${m.port}`)));
          if (missing.length > 0)
            behind.push(
              `${name}'s Traefik lacks the mark of ${missing.map((m) => m.name).join(", ")}`,
            );
        }
        return behind.length === 0 ? done(undefined) : notYet(behind.join("; "));
      },
    );
    return Date.now() - began;
  } finally {
    // Not waited for: each Traefik drops the marks at its next read, and nothing asks for them.
    // One left behind (its agent unreachable just now) is replaced by the next proof.
    for (const m of registered)
      await m.consul.deregisterService(catalogMark).catch(() => undefined);
  }
}
