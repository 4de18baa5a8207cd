import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  leftoverProcesses,
  nomadContainers,
  pinnedImage,
  startCluster,
  stopAll,
  waitFor,
  type Cluster,
} from "../harness/agents.js";
import { printAgentLogsOnFailure } from "../harness/logs.js";

// Smoke test of the harness against the real programs: a Docker job on Nomad, its service and
// passing check in Consul, Traefik routing to it, and nothing left behind afterwards.

const jobHcl = readFileSync(new URL("../fixtures/agents/smoke.nomad.hcl", import.meta.url), "utf8");
const version = `smoke-${randomBytes(4).toString("hex")}`;

interface HealthEntry {
  Service: { Address: string; Port: number; Tags: string[] };
  Checks: { Status: string; Name: string }[];
}

async function call(
  url: string,
  options: { method?: "GET" | "POST" | "DELETE"; body?: unknown; host?: string } = {},
) {
  const response = await request(url, {
    method: options.method ?? "GET",
    headers: {
      ...(options.host ? { host: options.host } : {}),
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  });
  const text = await response.body.text();
  return { status: response.statusCode, text };
}

async function json<T>(url: string): Promise<T> {
  const { status, text } = await call(url);
  if (status !== 200) throw new Error(`GET ${url}: ${status} ${text}`);
  return JSON.parse(text) as T;
}

interface AllocationStub {
  ID: string;
  ClientStatus: string;
  TaskStates?: Record<string, { Events: { Type: string; DisplayMessage: string }[] }>;
}

/** What Nomad says happened to the job's allocations, for a failure message. */
async function allocationEvents(cluster: Cluster): Promise<string> {
  try {
    const allocs = await json<AllocationStub[]>(`${cluster.nomad.http}/v1/job/smoke/allocations`);
    const summary = allocs.map((a) => ({
      id: a.ID,
      status: a.ClientStatus,
      events: Object.values(a.TaskStates ?? {}).flatMap((t) =>
        t.Events.map((e) => `${e.Type}: ${e.DisplayMessage}`),
      ),
    }));
    return JSON.stringify(summary, null, 2);
  } catch (error) {
    return `(could not read them: ${(error as Error).message})`;
  }
}

describe("harness agents: Nomad + Consul + Traefik", () => {
  let cluster: Cluster;
  printAgentLogsOnFailure();

  beforeAll(async () => {
    cluster = await startCluster();
  });

  afterAll(async () => {
    await stopAll();
  });

  it("runs a Docker job whose service passes its HTTP check in Consul", async () => {
    const parsed = await call(`${cluster.nomad.http}/v1/jobs/parse`, {
      method: "POST",
      body: {
        JobHCL: jobHcl,
        Canonicalize: true,
        Variables: `image = "${await pinnedImage("elm-infra/tiny")}"\nversion = "${version}"`,
      },
    });
    expect(parsed.status, parsed.text).toBe(200);
    const submitted = await call(`${cluster.nomad.http}/v1/jobs`, {
      method: "POST",
      body: { Job: JSON.parse(parsed.text) },
    });
    expect(submitted.status, submitted.text).toBe(200);

    let passing: HealthEntry[] = [];
    await waitFor(
      "a passing instance of smoke in Consul",
      async () => {
        passing = await json<HealthEntry[]>(
          `${cluster.consul.http}/v1/health/service/smoke?passing=true`,
        );
        return passing.length > 0;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\nallocations: ${await allocationEvents(cluster)}`);
    });

    const instance = passing[0]!;
    expect(instance.Service.Address).toBe("127.0.0.1");
    expect(instance.Service.Tags).toContain("traefik.enable=true");
    expect(instance.Checks.every((c) => c.Status === "passing")).toBe(true);
    const direct = await call(`http://127.0.0.1:${instance.Service.Port}/version.txt`);
    expect(direct.text.trim()).toBe(version);
  });

  it("routes Host: smoke.test through Traefik and shows the router enabled and the server UP", async () => {
    let routed = { status: 0, text: "" };
    await waitFor(
      "Traefik to route smoke.test",
      async () => {
        routed = await call(`${cluster.traefik.entrypoint}/version.txt`, { host: "smoke.test" });
        return routed.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(routed.text.trim()).toBe(version);

    const unknownHost = await call(`${cluster.traefik.entrypoint}/version.txt`, {
      host: "other.test",
    });
    expect(unknownHost.status).toBe(404);

    const routers = await json<{ name: string; rule: string; status: string; service: string }[]>(
      `${cluster.traefik.api}/api/http/routers`,
    );
    const router = routers.find((r) => r.rule === "Host(`smoke.test`)");
    expect(router, JSON.stringify(routers)).toMatchObject({
      name: "smoke@consulcatalog",
      status: "enabled",
    });

    let services: { name: string; serverStatus?: Record<string, string> }[] = [];
    await waitFor(
      "Traefik to mark the smoke server UP",
      async () => {
        services = await json<typeof services>(`${cluster.traefik.api}/api/http/services`);
        const service = services.find(
          (s) => s.name === `${router!.service}@consulcatalog` || s.name === router!.service,
        );
        return Object.values(service?.serverStatus ?? {}).includes("UP");
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nservices: ${JSON.stringify(services)}`);
    });
  });

  it("stops every agent and leaves no process, container or folder behind", async () => {
    const agents = [cluster.consul, cluster.nomad, cluster.traefik].map((a) => ({
      pid: a.pid,
      dir: a.dir,
    }));
    const nodeId = cluster.nomad.nodeId;
    expect(await nomadContainers(nodeId)).not.toHaveLength(0);

    await cluster.stop();

    expect(leftoverProcesses(agents)).toEqual([]);
    expect(await nomadContainers(nodeId)).toEqual([]);
    for (const agent of agents) expect(existsSync(agent.dir), agent.dir).toBe(false);
  });
});
