import { lstat, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { runCli } from "../../src/cli/run.js";
import { cliPath } from "../harness/cli.js";

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  cwd?: string;
  /** Variables on top of a clean environment (no ELM_INFRA_*, token or CI variables). */
  env?: Record<string, string>;
}

/** Variables a developer's shell may set that would change what the CLI does. */
const ambient = /^(ELM_INFRA_|NOMAD_|CONSUL_|DIGITALOCEAN_|CI$|FORCE_COLOR$|NO_COLOR$)/;

/**
 * Runs the CLI's entry function in this process, on the current source (no build), as a user in
 * `cwd` with a clean environment would: its stdout and stderr captured, its exit code returned.
 * Not for two at once: it changes the process's directory and environment while it runs.
 */
export async function runInProcess(args: string[], options: CliRunOptions = {}): Promise<CliRun> {
  const saved = { ...process.env };
  const cwd = process.cwd();
  for (const name of Object.keys(process.env)) if (ambient.test(name)) delete process.env[name];
  Object.assign(process.env, options.env ?? {});
  if (options.cwd) process.chdir(options.cwd);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const exitCode = await runCli(args, {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      stderrIsTTY: false,
      stdinIsTTY: false,
      exitNow: (code) => {
        throw new Error(`the CLI asked to exit at once with ${code}`);
      },
    });
    return { exitCode, stdout: out.join("").trimEnd(), stderr: err.join("").trimEnd() };
  } finally {
    process.chdir(cwd);
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

export interface SpawnedRun extends CliRun {
  /** The CLI process's peak resident memory, in bytes (process.resourceUsage().maxRSS). */
  maxRss: number;
  ms: number;
}

const rssReporter = join(repo, "test/support/max-rss.mjs");

/** Runs the built entry point (dist/cli/main.js) as a child, measuring its time and peak memory. */
export async function spawnCli(
  args: string[],
  options: CliRunOptions & { timeoutMs?: number } = {},
): Promise<SpawnedRun> {
  const rssFile = join(
    tmpdir(),
    `elm-infra-rss-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  const began = Date.now();
  const r = await execa("node", ["--import", rssReporter, cliPath, ...args], {
    cwd: options.cwd ?? repo,
    reject: false,
    stdin: "ignore",
    extendEnv: false,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? tmpdir(),
      ELM_INFRA_RSS_FILE: rssFile,
      ...options.env,
    },
    timeout: options.timeoutMs ?? 30_000,
  });
  const ms = Date.now() - began;
  const maxRss = Number(await readFile(rssFile, "utf8").catch(() => "NaN")) * 1024;
  await rm(rssFile, { force: true });
  return {
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    maxRss,
    ms,
  };
}

/** Every path under `dir` with its kind and size, symlinks not followed: compare before/after. */
export async function folderTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const listed = await Promise.all(
    entries.map(async (e) => {
      const info = await lstat(join(dir, e));
      const kind = info.isDirectory()
        ? "d"
        : info.isSymbolicLink()
          ? "l"
          : info.isFIFO()
            ? "p"
            : "f";
      return `${kind} ${e} ${info.isFile() ? info.size : ""}`;
    }),
  );
  return listed.sort();
}
