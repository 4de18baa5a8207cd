/**
 * The proof that Consul's catalog reaches Traefik (src/tasks/catalog-mark.ts) against a real
 * Consul enforcing ACLs and a real Traefik reading it with its own token. When that Traefik
 * cannot read the catalog (its token deleted: every refresh fails, as while the servers are
 * away), its routes still equal the catalog's, so comparing them says it has caught up; the
 * mark does not reach it, the proof fails naming it, and leaves no mark behind. With the token
 * back the proof passes, and the mark leaves the catalog.
 */
import { randomUUID } from "node:crypto";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/client.js";
import { traefikLag } from "../../src/plan/ingress.js";
import { catalogMark, proveTraefiksReadCatalog } from "../../src/tasks/catalog-mark.js";
import { TraefikClient } from "../../src/traefik/client.js";
import { done, notYet, sleep, waitFor } from "../../src/wait.js";
import {
  startConsul,
  startTraefik,
  type ConsulAgent,
  type TraefikAgent,
} from "../harness/agents.js";

const management = randomUUID();
const traefikSecret = randomUUID();
let consulAgent: ConsulAgent;
let traefikAgent: TraefikAgent;
let consul: ConsulClient;
let traefik: TraefikClient;

/** One call to Consul's ACL API with the management token (policies: not in the client). */
async function acl(method: "PUT", path: string, body: unknown): Promise<{ AccessorID?: string }> {
  const res = await request(`${consulAgent.http}${path}`, {
    method,
    headers: { "X-Consul-Token": management, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text) as { AccessorID?: string };
}

/** Traefik's token: read the catalog and the nodes, as the cluster's Traefik token does. */
async function createTraefikToken(): Promise<string> {
  const made = await acl("PUT", "/v1/acl/token", {
    SecretID: traefikSecret,
    Description: "traefik",
    Policies: [{ Name: "traefik-read" }],
  });
  return made.AccessorID!;
}

const webUrls = async () =>
  ((await traefik.service("web").catch(() => undefined))?.loadBalancer?.servers ?? []).map(
    (s) => s.url,
  );

let accessor: string;

beforeAll(async () => {
  consulAgent = await startConsul({ aclManagementToken: management });
  await acl("PUT", "/v1/acl/policy", {
    Name: "traefik-read",
    Rules: 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }',
  });
  accessor = await createTraefikToken();
  traefikAgent = await startTraefik({ consul: consulAgent, consulToken: traefikSecret });
  consul = new ConsulClient({ address: consulAgent.http, token: management });
  // The agent syncs deregistrations with its own token, as each host's agent does with its
  // node's (a dev agent has none).
  await consul.setAgentToken("agent", management);
  traefik = new TraefikClient({ api: traefikAgent.api, entrypoint: traefikAgent.entrypoint });
  // A service Traefik routes, as a site's instance is.
  await consul.registerService({
    ID: "web-1",
    Name: "web",
    Port: 18_001,
    Tags: ["traefik.enable=true"],
  });
  await waitFor({ what: "Traefik to route web", timeoutMs: 30_000, intervalMs: 250 }, async () =>
    (await webUrls()).length === 1 ? done(undefined) : notYet("not yet"),
  );
}, 120_000);

afterAll(async () => {
  await traefikAgent?.stop();
  await consulAgent?.stop();
});

/** The mark leaves the catalog (the agent syncs its deregistration at once; bounded). */
const markLeavesCatalog = () =>
  waitFor(
    { what: "the mark to leave the catalog", timeoutMs: 10_000, intervalMs: 200 },
    async () => {
      const left = (await consul.serviceHealth(catalogMark)).length;
      return left === 0 ? done(left) : notYet(`${left} instance(s) still listed`);
    },
  );

describe("the mark proves the catalog reaches Traefik (real Consul with ACLs, real Traefik)", () => {
  it("a Traefik that reads the catalog: the proof passes, and the mark leaves the catalog", async () => {
    const took = await proveTraefiksReadCatalog([{ name: "worker-a", consul, traefik }], {
      timeoutMs: 60_000,
    });
    expect(took).toBeGreaterThan(0);
    expect(await markLeavesCatalog()).toBe(0);
  });

  it("a Traefik that cannot read the catalog: its routes equal the catalog's, yet the proof fails naming it and leaves no mark; with its token back, it passes", async () => {
    await consul.deleteToken(accessor);
    // Traefik's refreshes (every second here) now fail: it keeps its last routes.
    await sleep(3000);
    const inConsul = (await consul.serviceHealth("web", { passingOnly: true })).map(
      (h) => `http://${h.Service.Address || h.Node.Address}:${h.Service.Port}`,
    );
    expect(traefikLag({ web: inConsul }, { "worker-a": { web: await webUrls() } })).toEqual([]);

    const failed = await proveTraefiksReadCatalog([{ name: "worker-a", consul, traefik }], {
      timeoutMs: 5000,
    }).catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toMatch(
      /does not reach every worker's Traefik within \d+ s: worker-a's Traefik lacks the mark of worker-a/,
    );
    expect(await markLeavesCatalog()).toBe(0);

    accessor = await createTraefikToken();
    await proveTraefiksReadCatalog([{ name: "worker-a", consul, traefik }], { timeoutMs: 90_000 });
    expect(await markLeavesCatalog()).toBe(0);
  }, 150_000);
});
