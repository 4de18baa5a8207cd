/**
 * What `rollback` and `status` say when Nomad cannot answer: down (connection refused), refusing
 * the token (ACLs enforced), and accepting connections but never answering (the real agent
 * stopped with SIGSTOP). Each is said as exactly that, with the address, the permission or the
 * deadline, exit 1: never "not deployed". SIGTERM during a hung call exits 143 at once.
 */
import { execa } from "execa";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsul, startNomad, type ConsulAgent, type NomadAgent } from "../harness/agents.js";
import {
  cliPath,
  ensureBuilt,
  errorOf,
  runCli,
  writeClusterYaml,
  type CliRun,
} from "../harness/cli.js";
import { freePorts } from "../harness/ports.js";
import { loadConfig } from "../../src/config/load.js";
import { ConsulClient } from "../../src/consul/client.js";
import { acquireLock, deployLockKey } from "../../src/consul/lock.js";
import { NomadClient } from "../../src/nomad/client.js";
import { renderServiceJob } from "../../src/plan/jobs.js";

let consul: ConsulAgent;
let nomad: NomadAgent;
let dir: string;
let management: string;
let stopped = false;

/** A cluster.yaml whose Nomad is at `nomadUrl`; Traefik is never reached before Nomad answers. */
async function configFor(name: string, nomadUrl: string): Promise<string> {
  const sub = join(dir, name);
  await execa("mkdir", ["-p", sub]);
  return writeClusterYaml(sub, "t", {
    nomad: nomadUrl,
    consul: consul.http,
    traefikApi: "http://127.0.0.1:9",
    entrypoint: "http://127.0.0.1:9",
    canaryEntrypoint: "http://127.0.0.1:9",
  });
}

const elmInfra = (args: string[], config: string, token?: string) =>
  runCli(args, {
    config,
    target: "t",
    ...(token ? { env: { ELM_INFRA_NOMAD_TOKEN: token } } : {}),
  });

/** The error event, and that nothing claims the service is absent or undeployed. */
function expectError(run: CliRun, message: string | RegExp, hint?: RegExp): void {
  expect(run.exitCode, run.stdout + run.stderr).toBe(1);
  const error = run.events.find((e) => e.type === "error")!;
  expect(error).toMatchObject({ type: "error", exitCode: 1 });
  if (typeof message === "string") expect(error.message).toBe(message);
  else expect(String(error.message)).toMatch(message);
  if (hint) expect(String(error.hint)).toMatch(hint);
  expect(run.stdout + run.stderr).not.toMatch(/never been deployed|not deployed|absent/);
  expect(run.stdout + run.stderr).not.toMatch(/UND_ERR|Timeout Error|fetch failed|unexpected/i);
}

beforeAll(async () => {
  await ensureBuilt();
  consul = await startConsul();
  nomad = await startNomad({ consul, acl: true });
  management = (await new NomadClient({ address: nomad.http }).aclBootstrap()).SecretID;
  dir = await mkdtemp(join(tmpdir(), "elm-infra-unreachable-"));
}, 300_000);

afterAll(async () => {
  if (stopped) process.kill(nomad.pid, "SIGCONT");
  await nomad?.stop();
  await consul?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Nomad down: nothing listens at its address", () => {
  let config: string;
  let url: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${(await freePorts(1))[0]}`;
    config = await configFor("down", url);
  });

  it("rollback exits 1: not reachable, connection refused (not 'never been deployed')", async () => {
    const run = await elmInfra(["rollback", "elm-lang.org", "--yes"], config);
    expectError(
      run,
      `Nomad is not reachable at ${url}: connection refused`,
      /check that Nomad is running/,
    );
  });

  it("status exits 1 with the same", async () => {
    const run = await elmInfra(["status"], config);
    expectError(run, `Nomad is not reachable at ${url}: connection refused`);
  });
});

describe("Nomad refuses the token", () => {
  let config: string;
  let bare: string;
  beforeAll(async () => {
    config = await configFor("acl", nomad.http);
    const admin = new NomadClient({ address: nomad.http, token: management });
    // A token with a policy that grants nothing in the default namespace.
    await admin.upsertPolicy("nothing", 'namespace "other" {\n  policy = "read"\n}\n');
    bare = (await admin.createToken("bare", ["nothing"])).SecretID;
  });

  it("rollback with a token lacking read-job exits 1, naming the permission and Nomad's address", async () => {
    const run = await elmInfra(["rollback", "elm-lang.org", "--yes"], config, bare);
    expectError(
      run,
      `Nomad refused GET /v1/job/elm-lang.org/versions: permission denied; the token needs namespace capability read-job (Nomad at ${nomad.http})`,
      /the Nomad token needs namespace capability read-job; set ELM_INFRA_NOMAD_TOKEN/,
    );
    expect(run.stdout + run.stderr).not.toContain(bare);
  });

  it("status with a token Nomad never issued exits 1, naming read-job and the address", async () => {
    const unknown = "0b9f1c2e-7d4a-4e8b-9c1f-2d5b6a7e8f90";
    const run = await elmInfra(["status"], config, unknown);
    expectError(
      run,
      new RegExp(
        `^Nomad refused GET /v1/job/elm-lang\\.org\\S*: permission denied; the token needs namespace capability read-job \\(Nomad at ${nomad.http.replace(/\./g, "\\.")}\\)$`,
      ),
      /the Nomad token needs namespace capability read-job/,
    );
    expect(run.stdout + run.stderr).not.toContain(unknown);
  });

  it("status with the token lacking read-job exits 1, naming read-job", async () => {
    const run = await elmInfra(["status"], config, bare);
    expectError(
      run,
      /^Nomad refused GET \S+: permission denied; the token needs namespace capability read-job/,
    );
  });
});

describe("rollback refuses as deploy does", () => {
  it("while another run holds the deploy lock: exit 3 naming the holder, the job unchanged", async () => {
    const config = await configFor("locked", nomad.http);
    const loaded = await loadConfig({ file: config, target: "t", env: {} });
    const admin = new NomadClient({ address: nomad.http, token: management });
    // Two versions of the job, stopped (nothing to place): enough for rollback to choose one.
    for (const version of ["v1", "v2"]) {
      const job = await admin.parseJob(
        await renderServiceJob(loaded, { service: "elm-lang.org", version }),
      );
      const current = await admin.readJob("elm-lang.org");
      await admin.registerJob({ ...job, Stop: true } as typeof job, current?.JobModifyIndex ?? 0);
    }
    const before = (await admin.readJob("elm-lang.org"))?.Version;
    const lock = await acquireLock(new ConsulClient({ address: consul.http }), deployLockKey, {
      holder: "alice@laptop (pid 42)",
      command: "deploy elm-lang.org@v3",
      since: "2026-11-23T10:00:00Z",
    });
    try {
      const run = await elmInfra(["rollback", "elm-lang.org@v1", "--yes"], config, management);
      expect(run.exitCode, run.stdout + run.stderr).toBe(3);
      expect(errorOf(run)).toBe(
        `${deployLockKey} is locked by alice@laptop (pid 42) (deploy elm-lang.org@v3) since 2026-11-23T10:00:00Z`,
      );
      expect((await admin.readJob("elm-lang.org"))?.Version).toBe(before);
    } finally {
      await lock.release();
    }
    await admin.stopJob("elm-lang.org", true);
  });
});

describe("Nomad accepts connections but never answers (SIGSTOP)", () => {
  let config: string;
  beforeAll(async () => {
    config = await configFor("stopped", nomad.http);
    // It answers before it is stopped.
    const ok = await elmInfra(["rollback", "elm-lang.org", "--yes"], config, management);
    expect(ok.exitCode).toBe(2);
    expect(errorOf(ok)).toBe("elm-lang.org has never been deployed on target t");
    process.kill(nomad.pid, "SIGSTOP");
    stopped = true;
  });
  afterAll(() => {
    process.kill(nomad.pid, "SIGCONT");
    stopped = false;
  });

  it("rollback exits 1 within the deadline: did not answer within 10 s at its address", async () => {
    const started = Date.now();
    const run = await elmInfra(["rollback", "elm-lang.org", "--yes"], config, management);
    const took = Date.now() - started;
    expectError(run, `Nomad did not answer within 10 s at ${nomad.http}`, /did not answer/);
    expect(took).toBeGreaterThanOrEqual(10_000);
    expect(took).toBeLessThan(20_000);
  });

  it("status exits 1 the same way", async () => {
    const run = await elmInfra(["status", "elm-lang.org"], config, management);
    expectError(run, `Nomad did not answer within 10 s at ${nomad.http}`);
  });

  it("SIGTERM while waiting: exit 143 at once, said as terminated", async () => {
    const child = execa(
      "node",
      [cliPath, "status", "--json", "--config", config, "--target", "t"],
      {
        reject: false,
        timeout: 60_000,
        stdin: "ignore",
        env: { CI: "true", ELM_INFRA_NOMAD_TOKEN: management },
      },
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const sent = Date.now();
    child.kill("SIGTERM");
    const res = await child;
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(res.exitCode).toBe(143);
    const events = res.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1)).toMatchObject({
      type: "error",
      exitCode: 143,
      error: "TerminatedError",
      message: "terminated (SIGTERM)",
    });
  });
});
