/**
 * Each client method reads the real answer of its endpoint (test/fixtures/answers/, recorded from
 * real agents) without complaint: a loopback server replays the recording, the method checks it
 * with the schema it states. This ties every method to the schema the recording passes.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/client.js";
import { NomadClient } from "../../src/nomad/client.js";
import { TraefikClient } from "../../src/traefik/client.js";
import { startHostileServer, type HostileServer } from "../support/hostile-server.js";

const fixtures = resolve(import.meta.dirname, "../fixtures/answers");
let server: HostileServer;
beforeAll(async () => {
  server = await startHostileServer();
});
afterAll(async () => {
  await server.close();
});

const nomad = () => new NomadClient({ address: server.url });
const consul = () => new ConsulClient({ address: server.url });
const traefik = () => new TraefikClient({ api: server.url, entrypoint: server.url });
const job = () => JSON.parse(readFileSync(join(fixtures, "nomad-jobs-parse.json"), "utf8"));

const methods: Array<[fixture: string, call: () => Promise<unknown>]> = [
  ["consul-session-create", () => consul().createSession("t", 30)],
  ["consul-kv-acquire", () => consul().acquireKey("k", "s", "v")],
  ["consul-kv-read", () => consul().readKey("k")],
  ["consul-health-service", () => consul().serviceHealth("web")],
  ["consul-health-checks", () => consul().serviceChecks("web")],
  ["consul-status-leader", () => consul().leader()],
  ["consul-status-peers", () => consul().raftPeers()],
  ["consul-raft-configuration", () => consul().raftConfiguration()],
  ["consul-autopilot-health", () => consul().autopilotHealth()],
  ["consul-agent-members", () => consul().members()],
  ["nomad-jobs-parse", () => nomad().parseJob("job")],
  ["nomad-job-plan", () => nomad().planJob(job())],
  ["nomad-jobs-register", () => nomad().registerJob(job(), 0)],
  ["nomad-job-read", () => nomad().readJob("web")],
  ["nomad-job-versions", () => nomad().jobVersions("web")],
  ["nomad-job-allocations", () => nomad().jobAllocations("web")],
  ["nomad-job-deployment", () => nomad().latestDeployment("web")],
  ["nomad-deployment", () => nomad().deployment("d")],
  ["nomad-deployment-allocations", () => nomad().deploymentAllocations("d")],
  ["nomad-allocation", () => nomad().allocation("a")],
  ["nomad-evaluation", () => nomad().evaluation("e")],
  ["nomad-jobs-prefix", () => nomad().jobsWithPrefix("web")],
  ["nomad-nodes", () => nomad().nodes()],
  ["nomad-node", () => nomad().node("n")],
  ["nomad-node-allocations", () => nomad().nodeAllocations("n")],
  ["nomad-raft-configuration", () => nomad().raftConfiguration()],
  ["nomad-autopilot-health", () => nomad().autopilotHealth()],
  ["nomad-agent-members", () => nomad().serverMembers()],
  ["nomad-status-leader", () => nomad().leader()],
  ["nomad-variable", () => nomad().readVariable("certs/web")],
  ["traefik-routers", () => traefik().routers()],
  ["traefik-router", () => traefik().router("web")],
  ["traefik-service", () => traefik().service("web")],
];

it.each(methods)("the client reads the real %s answer", async (fixture, call) => {
  server.answer({ body: readFileSync(join(fixtures, `${fixture}.json`), "utf8") });
  await expect(call()).resolves.toBeDefined();
});

it("a whole allocation reads as a stub with its job's version and type", async () => {
  server.answer({ body: readFileSync(join(fixtures, "nomad-allocation.json"), "utf8") });
  expect(await nomad().allocation("a")).toMatchObject({ JobVersion: 0, JobType: "service" });
  server.answer({ body: readFileSync(join(fixtures, "nomad-node-allocations.json"), "utf8") });
  const { data } = await nomad().nodeAllocations("n");
  expect(data[0]).toMatchObject({ JobVersion: 0, JobType: "service" });
});
