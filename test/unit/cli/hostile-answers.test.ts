/**
 * The real CLI against a Nomad address where a wrong server answers (test/support/hostile-
 * server.ts): `status`, `deploy --dry-run` and `rollback --dry-run` each exit 1 with
 * "<address> answered something that is not Nomad's <endpoint>: <what>", never an internal error,
 * within bounded time and memory (the CLI process's own peak RSS); a server's error text with
 * control sequences reaches neither plain lines nor JSON raw.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeClusterYaml } from "../../harness/cli.js";
import {
  controlText,
  hostileAnswers,
  startHostileServer,
  type HostileServer,
} from "../../support/hostile-server.js";
import { cliPath, runCliMeasured, type MeasuredRun } from "../../support/measured-cli.js";

const repo = resolve(import.meta.dirname, "../../..");
let server: HostileServer;
let dir: string;
let config: string;

beforeAll(async () => {
  if (!existsSync(cliPath))
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: repo, stdio: "ignore" });
  server = await startHostileServer();
  dir = await mkdtemp(join(tmpdir(), "elm-infra-hostile-"));
  // Every API of the target points at the wrong server: Nomad is asked first by each command.
  config = await writeClusterYaml(dir, "t", {
    nomad: server.url,
    consul: server.url,
    traefikApi: server.url,
    entrypoint: server.url,
    canaryEntrypoint: server.url,
  });
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const commands: Array<[string, string[], RegExp]> = [
  ["status", ["status"], /GET \/v1\/(job\/elm-lang\.org(\/\w+)?|deployment\S*)/],
  ["deploy --dry-run", ["deploy", "elm-lang.org@1.0.0", "--dry-run"], /POST \/v1\/jobs\/parse/],
  [
    "rollback --dry-run",
    ["rollback", "elm-lang.org", "--dry-run"],
    /GET \/v1\/job\/elm-lang\.org\/versions/,
  ],
];

/** What every failed run must show: exit 1, no internal error, no control byte, bounded cost. */
function expectSaidClearly(run: MeasuredRun): string {
  const all = run.stdout + run.stderr;
  expect(run.exitCode, all).toBe(1);
  expect(all).not.toMatch(/internal error|a bug in elm-infra|ZodError|SyntaxError|at .*\.js:\d+/);
  // eslint-disable-next-line no-control-regex
  expect(all).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  expect(run.ms).toBeLessThan(30_000);
  // A gigabyte read whole would be over 1000 MB; the CLI alone is about 100.
  expect(run.maxRssMb).toBeLessThan(300);
  const error = run.events.find((e) => e.type === "error");
  expect(error, all).toMatchObject({ exitCode: 1, error: "UnexpectedAnswerError" });
  return String(error!.message);
}

describe.each(commands)("%s", (_, args, endpoint) => {
  it.each(hostileAnswers)(
    "Nomad's address answering %s: exit 1, naming the address and the endpoint",
    async (_name, answer, problem) => {
      server.answer(answer);
      const run = await runCliMeasured(args, { config, target: "t" });
      const message = expectSaidClearly(run);
      expect(message.startsWith(`${server.url} answered something that is not Nomad's `)).toBe(
        true,
      );
      expect(message).toMatch(endpoint);
      expect(message).toMatch(problem);
    },
  );
});

describe("a server's error text with control sequences", () => {
  it.each([
    ["plain lines", false],
    ["JSON lines", true],
  ])("status, %s: exit 1, the words without the sequences", async (_, json) => {
    server.answer({ status: 500, contentType: "text/plain", body: controlText });
    const run = await runCliMeasured(["status"], { config, target: "t", json });
    const all = run.stdout + run.stderr;
    expect(run.exitCode, all).toBe(1);
    // eslint-disable-next-line no-control-regex
    expect(all).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(all).not.toMatch(/\\u00(1b|07|9b)|pwned|internal error/i);
    expect(all).toMatch(/Nomad GET \/v1\/\S+ failed: red/);
  });
});
