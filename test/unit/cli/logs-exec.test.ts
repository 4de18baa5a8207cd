import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repo, runInProcess } from "../../support/cli.js";

// `logs` and `exec` refuse what they cannot do before any connection: exit 2, the reason and a
// hint, nothing on stdout. (What they do against a cluster: test/e2e/scenarios/logs-exec.ts.)
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "elm-infra-logs-exec-"));
  await copyFile(join(repo, "cluster.yaml"), join(work, "cluster.yaml"));
});
afterAll(() => rm(work, { recursive: true, force: true }));

const run = (args: string[]) => runInProcess(args, { cwd: work, env: {} });

describe("logs and exec refuse bad input with exit 2", () => {
  it.each([
    [
      ["--target", "local", "exec", "elm-lang.org"],
      "error: missing the command to run",
      "hint: put it after --, for example: elm-infra exec elm-lang.org -- sh",
    ],
    [
      ["--target", "local", "exec", "wiki.elm-lang.org", "--", "sh"],
      'error: unknown service "wiki.elm-lang.org"',
      "hint: known services: elm-lang.org, package.elm-lang.org",
    ],
    [
      ["logs", "constructor", "--target", "local"],
      'error: unknown service "constructor"',
      "hint: known services: elm-lang.org, package.elm-lang.org",
    ],
    [
      ["logs", "elm-lang.org", "--since", "1d", "--target", "local"],
      'error: --since takes a duration like 30s, 10m or 2h, not "1d"',
      "hint: for example: elm-infra logs elm-lang.org --since 10m",
    ],
  ])("%j", async (args, message, hint) => {
    const r = await run(args);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n").slice(0, 2)).toEqual([message, hint]);
  });

  it("logs --alloc without its value is commander's usage error, with the first example", async () => {
    const r = await run(["logs", "elm-lang.org", "--alloc"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("error: option '--alloc <id>' argument missing");
    expect(r.stderr).toContain("hint: type for example: elm-infra logs elm-lang.org -f");
  });

  it("--help of each says what it does, its options, the ACL capability it needs and examples", async () => {
    const logs = await run(["logs", "--help"]);
    expect(logs.exitCode).toBe(0);
    for (const text of [
      "-f, --follow",
      "--since <duration>",
      "--alloc <id>",
      "--stderr",
      "read-logs",
    ])
      expect(logs.stdout).toContain(text);
    expect(logs.stdout).toContain("Nomad keeps no time per line");
    const exec = await run(["exec", "--help"]);
    expect(exec.exitCode).toBe(0);
    for (const text of [
      "[command...]",
      "--alloc <id>",
      "alloc-exec",
      "exits with the command's exit code",
    ])
      expect(exec.stdout).toContain(text);
  });
});
