/**
 * The Nomad client against a real Nomad agent that enforces ACLs: bootstrap, policies and tokens
 * through the API, the operator and status endpoints with a management token, and what a user
 * sees when their token lacks a permission: the missing capability named, nothing submitted,
 * the token never printed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsul, startNomad, type ConsulAgent, type NomadAgent } from "../harness/agents.js";
import { ensureBuilt, errorOf, runCli, writeClusterYaml } from "../harness/cli.js";
import { NomadClient } from "../../src/nomad/client.js";
import { OperationError } from "../../src/errors.js";

let consul: ConsulAgent;
let nomad: NomadAgent;
let dir: string;
let config: string;
let management: string;

beforeAll(async () => {
  await ensureBuilt();
  consul = await startConsul();
  nomad = await startNomad({ consul, acl: true });
  dir = await mkdtemp(join(tmpdir(), "elm-infra-acl-"));
  config = await writeClusterYaml(dir, "acl", {
    nomad: nomad.http,
    consul: consul.http,
    // Never reached: every run here stops at Nomad.
    traefikApi: "http://127.0.0.1:9",
    entrypoint: "http://127.0.0.1:9",
    canaryEntrypoint: "http://127.0.0.1:9",
  });
}, 300_000);

afterAll(async () => {
  await nomad?.stop();
  await consul?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Nomad with ACLs enforced", () => {
  it("answers the leader without a token, refuses nodes naming node:read, bootstraps once", async () => {
    const anonymous = new NomadClient({ address: nomad.http });
    expect(await anonymous.leader()).toMatch(/^127\.0\.0\.1:\d+$/);

    const refused = await anonymous.nodes().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OperationError);
    expect((refused as OperationError).message).toBe(
      `Nomad refused GET /v1/nodes: permission denied; the token needs node:read (Nomad at ${nomad.http})`,
    );
    expect((refused as OperationError).hint).toMatch(/^the Nomad token needs node:read/);

    const boot = await anonymous.aclBootstrap();
    expect(boot.SecretID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    management = boot.SecretID;
    const again = await anonymous.aclBootstrap().catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Error);
    expect(String((again as Error).message)).toMatch(/bootstrap/i);
  });

  it("with the management token: nodes, the raft configuration and autopilot health", async () => {
    const admin = new NomadClient({ address: nomad.http, token: management });
    let nodes = await admin.nodes();
    for (let i = 0; i < 60 && !nodes.some((n) => n.Status === "ready"); i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      nodes = await admin.nodes();
    }
    expect(nodes.map((n) => n.Status)).toContain("ready");

    const raft = await admin.raftConfiguration();
    expect(raft.Servers).toHaveLength(1);
    expect(raft.Servers[0]!.Leader).toBe(true);
    expect(raft.Servers[0]!.Voter).toBe(true);
    expect(raft.Servers[0]!.Address).toBe(await admin.leader());

    const autopilot = await admin.autopilotHealth();
    expect(autopilot.Servers).toHaveLength(1);
    expect(autopilot.Servers[0]!.Leader).toBe(true);
  });

  it("a read-only token: deploy exits 1 naming submit-job, submits nothing, never prints the token", async () => {
    const admin = new NomadClient({ address: nomad.http, token: management });
    await admin.upsertPolicy("read-only", 'namespace "default" {\n  policy = "read"\n}\n');
    const reader = await admin.createToken("ci-reader", ["read-only"]);

    const run = await runCli(["deploy", "elm-lang.org@v1", "--yes"], {
      config,
      target: "acl",
      env: { ELM_INFRA_NOMAD_TOKEN: reader.SecretID },
    });
    expect(run.exitCode).toBe(1);
    expect(errorOf(run)).toMatch(
      /^Nomad refused POST \/v1\/job\/elm-lang\.org\/plan: permission denied/,
    );
    const error = run.events.find((e) => e.type === "error")!;
    expect(String(error.hint)).toMatch(
      /needs namespace capability submit-job; set ELM_INFRA_NOMAD_TOKEN/,
    );
    expect(await admin.readJob("elm-lang.org")).toBeUndefined();
    expect(run.stdout + run.stderr).not.toContain(reader.SecretID);
    expect(run.stdout + run.stderr).not.toContain(reader.SecretID.slice(0, 8));
  });

  it("no token: status exits 1 and says the token needs read-job", async () => {
    const run = await runCli(["status"], { config, target: "acl" });
    expect(run.exitCode).toBe(1);
    expect(errorOf(run)).toMatch(/^Nomad refused GET \S+: permission denied/);
    const error = run.events.find((e) => e.type === "error")!;
    expect(String(error.hint)).toMatch(/needs namespace capability read-job/);
  });
});
