import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  devAgentFiles,
  nomadDevConfig,
  readyDockerNode,
  type NodeReadiness,
} from "../../../src/cluster/dev-agents.js";

const repo = resolve(import.meta.dirname, "../../..");
const entry = join(repo, "dist/tools/dev-agents.js");
let state: string;

beforeAll(async () => {
  if (!existsSync(entry)) await execa("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: repo });
  state = await mkdtemp(join(tmpdir(), "elm-infra-dev-agents-"));
}, 180_000);
afterAll(async () => rm(state, { recursive: true, force: true }));

describe("which Nomad node can place a job", () => {
  const node = (Status: string, docker?: { Healthy?: boolean }): NodeReadiness => ({
    ID: `${Status}-${docker?.Healthy}`,
    Status,
    Drivers: docker ? { docker } : {},
  });
  it.each([
    ["no node yet", [], undefined],
    ["initializing", [node("initializing", { Healthy: true })], undefined],
    ["ready, Docker not fingerprinted yet", [node("ready")], undefined],
    ["ready, Docker unhealthy", [node("ready", { Healthy: false })], undefined],
    ["ready with a healthy Docker", [node("ready", { Healthy: true })], "ready-true"],
    [
      "the healthy one among others",
      [node("down", { Healthy: true }), node("ready", { Healthy: true })],
      "ready-true",
    ],
  ])("%s", (_what, nodes, id) => {
    expect(readyDockerNode(nodes)?.ID).toBe(id);
  });
});

describe("the dev target's agents and the test harness's are configured by one renderer", () => {
  const ports = {
    consul: { http: 18500, dns: 18600, grpc: 18502, serfLan: 18301, serfWan: 18302, server: 18300 },
    nomad: { http: 14646, rpc: 14647, serf: 14648 },
    traefik: { web: 18080, api: 18081, canary: 18083 },
  };

  it("the dev files are the harness's configuration with the dev names and ports", () => {
    const files = devAgentFiles("/s", ports);
    expect(files["nomad.hcl"]).toBe(
      nomadDevConfig({
        name: "elm-infra-dev",
        dataDir: "/s/nomad-data",
        http: 14646,
        rpc: 14647,
        serf: 14648,
        consul: "127.0.0.1:18500",
      }),
    );
    expect(JSON.parse(files["consul.json"])).toMatchObject({
      node_name: "elm-infra-dev",
      data_dir: "/s/consul-data",
      ports: { http: 18500, serf_lan: 18301, grpc_tls: -1 },
    });
    expect(JSON.parse(files["traefik.yml"])).toMatchObject({
      entryPoints: {
        web: { address: "127.0.0.1:18080" },
        traefik: { address: "127.0.0.1:18081" },
        canary: { address: "127.0.0.1:18083" },
      },
      providers: { consulCatalog: { endpoint: { address: "127.0.0.1:18500" } } },
    });
  });

  it("node dist/tools/dev-agents.js config writes the files and prints cluster.yaml's ports", async () => {
    const r = await execa("node", [entry, "config", state], { cwd: repo });
    expect(r.stdout.split("\n")).toEqual([
      "CONSUL_HTTP=18500",
      "NOMAD_HTTP=14646",
      "TRAEFIK_WEB=18080",
      "TRAEFIK_API=18081",
      "TRAEFIK_CANARY=18083",
    ]);
    expect(await readFile(join(state, "nomad.hcl"), "utf8")).toBe(
      devAgentFiles(state, ports)["nomad.hcl"],
    );
    expect(JSON.parse(await readFile(join(state, "consul.json"), "utf8"))).toMatchObject({
      data_dir: join(state, "consul-data"),
    });
  });

  it("wait-node stops with exit 1 when no Nomad node is ready in time", async () => {
    // cluster.yaml with the dev Nomad on port 9, where nothing answers
    const yaml = await readFile(join(repo, "cluster.yaml"), "utf8");
    expect(yaml).toContain("nomad: http://127.0.0.1:14646");
    const file = join(state, "cluster.yaml");
    await writeFile(
      file,
      yaml.replace("nomad: http://127.0.0.1:14646", "nomad: http://127.0.0.1:9"),
    );
    const started = Date.now();
    const r = await execa("node", [entry, "wait-node", "2", file], { cwd: repo, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe("Nomad had no ready node with a healthy Docker driver within 2 s");
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("a wrong call is a usage error", async () => {
    const r = await execa("node", [entry, "wait-node", "soon"], { cwd: repo, reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("usage: dev-agents.js");
  });
});
