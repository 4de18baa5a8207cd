/**
 * Real Nomad and Consul agents, with a hostile loopback server (test/support/hostile-server.ts)
 * standing where Consul's or Traefik's API should be. The real agents' answers pass the schemas
 * (the commands get as far as the wrong server); the wrong server's are said as such:
 * `deploy --dry-run` (Nomad plans, then Consul is asked about the deploy lock) exits 1 naming
 * Consul's address and endpoint; `status` (Traefik is asked last, and a Traefik out of reach is a
 * warning, not a failure) says Traefik's answer was not Traefik's. Memory and time are bounded.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsul, startNomad, type ConsulAgent, type NomadAgent } from "../harness/agents.js";
import { ensureBuilt, writeClusterYaml } from "../harness/cli.js";
import {
  hostileAnswers,
  startHostileServer,
  type HostileServer,
} from "../support/hostile-server.js";
import { runCliMeasured, type MeasuredRun } from "../support/measured-cli.js";

let consul: ConsulAgent;
let nomad: NomadAgent;
let server: HostileServer;
let dir: string;
let consulHostile: string;
let traefikHostile: string;

beforeAll(async () => {
  // Built only when src/ changed since: `npm test` built dist/ already, and a rebuild here
  // rewrote it under the e2e running beside this run (CI of 2026-12-07: a CLI started meanwhile
  // read a half-written module, "does not provide an export named 'RegistryApi'").
  await ensureBuilt();
  consul = await startConsul();
  nomad = await startNomad({ consul });
  server = await startHostileServer();
  dir = await mkdtemp(join(tmpdir(), "elm-infra-hostile-"));
  await mkdir(join(dir, "consul"));
  await mkdir(join(dir, "traefik"));
  consulHostile = await writeClusterYaml(join(dir, "consul"), "t", {
    nomad: nomad.http,
    consul: server.url,
    traefikApi: server.url,
    entrypoint: server.url,
    canaryEntrypoint: server.url,
  });
  traefikHostile = await writeClusterYaml(join(dir, "traefik"), "t", {
    nomad: nomad.http,
    consul: consul.http,
    traefikApi: server.url,
    entrypoint: server.url,
    canaryEntrypoint: server.url,
  });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await nomad?.stop();
  await consul?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function expectBounded(run: MeasuredRun): string {
  const all = run.stdout + run.stderr;
  expect(all).not.toMatch(/internal error|a bug in elm-infra|ZodError|SyntaxError/);
  // eslint-disable-next-line no-control-regex
  expect(all).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  expect(run.ms).toBeLessThan(60_000);
  expect(run.maxRssMb).toBeLessThan(300);
  return all;
}

// The deploy lock's key is a list endpoint: an empty array is Consul's "no such key" too.
const notAList = hostileAnswers.filter(([name]) => !name.startsWith("an array"));

describe("Consul's address answered by a wrong server", () => {
  it.each(notAList)(
    "deploy --dry-run, Consul answering %s: exit 1, naming Consul's address and endpoint",
    async (_, answer, problem) => {
      server.answer(answer);
      const run = await runCliMeasured(["deploy", "elm-lang.org@1.0.0", "--dry-run"], {
        config: consulHostile,
        target: "t",
      });
      const all = expectBounded(run);
      expect(run.exitCode, all).toBe(1);
      const error = run.events.find((e) => e.type === "error");
      expect(error).toMatchObject({ exitCode: 1, error: "UnexpectedAnswerError" });
      const message = String(error!.message);
      expect(message).toMatch(
        new RegExp(
          `^${server.url} answered something that is not Consul's GET /v1/kv/elm-infra/\\S+: `,
        ),
      );
      expect(message).toMatch(problem);
      // Nomad's real answers (parse, read, plan) passed their schemas before Consul was asked.
      expect(run.events.filter((e) => e.type === "task" && e.state === "completed")).toEqual(
        expect.arrayContaining([expect.objectContaining({ title: "Validate the job with Nomad" })]),
      );
    },
  );
});

describe("Traefik's API answered by a wrong server", () => {
  it.each(hostileAnswers)(
    "status, Traefik answering %s: a warning naming Traefik's address and endpoint (exit 0: Nomad is the truth)",
    async (_, answer, problem) => {
      server.answer(answer);
      const run = await runCliMeasured(["status"], { config: traefikHostile, target: "t" });
      const all = expectBounded(run);
      expect(run.exitCode, all).toBe(0);
      const warning = run.events.find((e) => e.type === "log" && e.level === "warn");
      expect(String(warning?.message)).toMatch(
        new RegExp(
          `^Traefik could not be asked: ${server.url} answered something that is not Traefik's GET /api/http/(routers|services)/elm-lang-org%40consulcatalog: `,
        ),
      );
      expect(String(warning?.message)).toMatch(problem);
      const result = run.events.find((e) => e.type === "result") as {
        data: { services: Array<{ deployed: boolean }> };
      };
      expect(result.data.services[0]).toMatchObject({ deployed: false });
    },
  );
});
