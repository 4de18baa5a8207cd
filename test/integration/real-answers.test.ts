/**
 * What real Nomad, Consul and Traefik agents answer to the endpoints elm-infra calls passes the
 * schemas its clients check answers against (src/{nomad,consul,traefik}/schemas.ts): a service
 * job with a canary (whose image does not exist, so its allocations carry failure events),
 * a Consul service Traefik routes, a lock, a variable. With ELM_INFRA_RECORD_ANSWERS=1 the
 * answers are written to test/fixtures/answers/, which test/unit/schemas.test.ts reads.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  startConsul,
  startNomad,
  startTraefik,
  waitFor,
  type ConsulAgent,
  type NomadAgent,
  type TraefikAgent,
} from "../harness/agents.js";
import { describeShapeProblem } from "../../src/http.js";
import { answerSchemas } from "../support/answer-fixtures.js";

const fixtures = resolve(import.meta.dirname, "../fixtures/answers");
let consul: ConsulAgent;
let nomad: NomadAgent;
let traefik: TraefikAgent;
const answers = new Map<string, unknown>();

async function ask(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await request(`${base}${path}`, {
    method: method as "GET",
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  });
  const text = await res.body.text();
  if (res.statusCode >= 400 && res.statusCode !== 429)
    throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

async function record(name: string, base: string, method: string, path: string, body?: unknown) {
  const answer = await ask(base, method, path, body);
  answers.set(name, answer);
  return answer as Record<string, unknown> & Array<Record<string, unknown>>;
}

const jobHcl = `job "web" {
  datacenters = ["dc1"]
  type = "service"
  meta { version = "1.0.0" }
  group "web" {
    count = 1
    update {
      canary = 1
      max_parallel = 1
      min_healthy_time = "1s"
      healthy_deadline = "10s"
      progress_deadline = "20s"
      auto_revert = true
    }
    network {
      port "http" {
        to = 8080
      }
    }
    task "web" {
      driver = "docker"
      config { image = "elm-infra/does-not-exist:1" }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`;

beforeAll(async () => {
  consul = await startConsul();
  nomad = await startNomad({ consul });
  traefik = await startTraefik({ consul, providers: ["consulCatalog"] });

  const c = consul.http;
  const session = await record("consul-session-create", c, "PUT", "/v1/session/create", {
    Name: "t",
    TTL: "30s",
    Behavior: "delete",
    LockDelay: "0s",
  });
  await record(
    "consul-kv-acquire",
    c,
    "PUT",
    `/v1/kv/elm-infra/t?acquire=${String(session.ID)}`,
    "me",
  );
  await record("consul-kv-read", c, "GET", "/v1/kv/elm-infra/t");
  await ask(c, "PUT", "/v1/agent/service/register", {
    Name: "web",
    Port: 9,
    Address: "127.0.0.1",
    Tags: ["traefik.enable=true", "traefik.http.routers.web.rule=Host(`web.test`)"],
    Check: { TTL: "60s", Status: "passing" },
  });
  for (const [name, path] of [
    ["consul-health-service", "/v1/health/service/web"],
    ["consul-health-checks", "/v1/health/checks/web"],
    ["consul-status-leader", "/v1/status/leader"],
    ["consul-status-peers", "/v1/status/peers"],
    ["consul-raft-configuration", "/v1/operator/raft/configuration"],
    ["consul-autopilot-health", "/v1/operator/autopilot/health"],
    ["consul-agent-members", "/v1/agent/members"],
  ] as const)
    await record(name, c, "GET", path);

  const n = nomad.http;
  const job = await record("nomad-jobs-parse", n, "POST", "/v1/jobs/parse", {
    JobHCL: jobHcl,
    Canonicalize: true,
  });
  await record("nomad-job-plan", n, "POST", "/v1/job/web/plan", { Job: job, Diff: true });
  const registered = await record("nomad-jobs-register", n, "POST", "/v1/jobs", { Job: job });
  // The allocation is placed and fails to pull its image: its task events say so.
  await waitFor(
    "the allocation's task to have events",
    async () => {
      const allocs = (await ask(n, "GET", "/v1/job/web/allocations")) as Array<{
        TaskStates?: Record<string, { Events?: unknown[] }> | null;
      }>;
      return allocs.some((a) => (a.TaskStates?.web?.Events?.length ?? 0) > 1);
    },
    { timeoutMs: 60_000 },
  );
  const allocs = await record("nomad-job-allocations", n, "GET", "/v1/job/web/allocations");
  await record("nomad-allocation", n, "GET", `/v1/allocation/${String(allocs[0]!.ID)}`);
  await record("nomad-job-read", n, "GET", "/v1/job/web");
  await record("nomad-job-versions", n, "GET", "/v1/job/web/versions");
  const deployment = await record("nomad-job-deployment", n, "GET", "/v1/job/web/deployment");
  await record("nomad-deployment", n, "GET", `/v1/deployment/${String(deployment.ID)}`);
  await record(
    "nomad-deployment-allocations",
    n,
    "GET",
    `/v1/deployment/allocations/${String(deployment.ID)}`,
  );
  await record("nomad-evaluation", n, "GET", `/v1/evaluation/${String(registered.EvalID)}`);
  await record("nomad-jobs-prefix", n, "GET", "/v1/jobs?prefix=web");
  await record("nomad-nodes", n, "GET", "/v1/nodes");
  await record("nomad-node", n, "GET", `/v1/node/${nomad.nodeId}`);
  await record("nomad-node-allocations", n, "GET", `/v1/node/${nomad.nodeId}/allocations`);
  await record("nomad-raft-configuration", n, "GET", "/v1/operator/raft/configuration");
  await record("nomad-autopilot-health", n, "GET", "/v1/operator/autopilot/health");
  await record("nomad-agent-members", n, "GET", "/v1/agent/members");
  await record("nomad-status-leader", n, "GET", "/v1/status/leader");
  await ask(n, "PUT", "/v1/var/certs/web", {
    Namespace: "default",
    Path: "certs/web",
    Items: { domains: "web.test", cert: "not a real certificate" },
  });
  await record("nomad-variable", n, "GET", "/v1/var/certs/web");

  const t = traefik.api;
  await waitFor(
    "Traefik to route the Consul service",
    async () =>
      ((await ask(t, "GET", "/api/http/routers")) as Array<{ name: string }>).some(
        (r) => r.name === "web@consulcatalog",
      ),
    { timeoutMs: 30_000 },
  );
  await record("traefik-routers", t, "GET", "/api/http/routers");
  await record("traefik-router", t, "GET", "/api/http/routers/web@consulcatalog");
  await record("traefik-service", t, "GET", "/api/http/services/web@consulcatalog");
  if (process.env.ELM_INFRA_RECORD_ANSWERS === "1")
    for (const [name, answer] of answers)
      writeFileSync(join(fixtures, `${name}.json`), `${JSON.stringify(answer, null, 2)}\n`);
}, 300_000);

afterAll(async () => {
  await traefik?.stop();
  await nomad?.stop();
  await consul?.stop();
});

it.each(Object.keys(answerSchemas))("the real answer %s passes its schema", (name) => {
  expect(answers.has(name), name).toBe(true);
  const parsed = answerSchemas[name]!.safeParse(answers.get(name));
  expect(parsed.success ? "accepted" : describeShapeProblem(parsed.error, 10)).toBe("accepted");
});
