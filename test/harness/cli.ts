/**
 * Test harness: the compiled CLI run as a user runs it, against a cluster.yaml written for the
 * agents a test started. `npm test` builds dist/ before the tests run.
 */
import { readdir, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { execa } from "execa";

const repo = resolve(import.meta.dirname, "../..");
export const cliPath = join(repo, "dist/cli/main.js");

/** The newest modification time (ms) of the files under `dir`, recursively. */
async function newestUnder(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const t = entry.isDirectory() ? await newestUnder(path) : (await stat(path)).mtimeMs;
    newest = Math.max(newest, t);
  }
  return newest;
}

/**
 * Builds dist/ (tsc -p tsconfig.build.json) unless it was built after the last change to src/
 * and the TypeScript configuration: `npm test` has built it already, and a test file run alone
 * after an edit still tests the current source. tsc rewrites every output, so the CLI's entry
 * point's time is the build's.
 */
export async function ensureBuilt(): Promise<void> {
  const built = (await stat(cliPath).catch(() => undefined))?.mtimeMs ?? 0;
  const configs = ["tsconfig.json", "tsconfig.build.json", "package-lock.json"].map(
    async (f) => (await stat(join(repo, f))).mtimeMs,
  );
  const changed = Math.max(await newestUnder(join(repo, "src")), ...(await Promise.all(configs)));
  if (built > changed) return;
  await execa("npx", ["tsc", "-p", "tsconfig.build.json"], {
    cwd: repo,
    stdin: "ignore",
    timeout: 300_000,
  });
}

export interface Endpoints {
  nomad: string;
  consul: string;
  traefikApi: string;
  entrypoint: string;
  canaryEntrypoint: string;
}

/**
 * Writes `<dir>/cluster.yaml` with one local target (named `target`) reaching the given
 * endpoints, and elm-lang.org as a small, fast-updating service. Returns the file's path.
 */
export async function writeClusterYaml(
  dir: string,
  target: string,
  endpoints: Endpoints,
  options: { hostnames?: string[]; update?: string; image?: string } = {},
): Promise<string> {
  const file = join(dir, "cluster.yaml");
  await writeFile(
    file,
    `targets:
  ${target}:
    provider: local
    region: local
    image: elm-infra/host:latest
    sizes: { manager: local, worker: local }
    managers: 1
    workers: 1
    registry: none
    ssh: { privateKey: id_ed25519 }
    endpoints:
      nomad: ${endpoints.nomad}
      consul: ${endpoints.consul}
      traefikApi: ${endpoints.traefikApi}
      entrypoint: ${endpoints.entrypoint}
      canaryEntrypoint: ${endpoints.canaryEntrypoint}
services:
  elm-lang.org:
    job: ${join(repo, "jobs/elm-lang.org.nomad.hbs")}
    image: ${options.image ?? "elm-lang.org"}
    hostnames: [${(options.hostnames ?? ["elm-lang.org"]).join(", ")}]
    healthPath: /health
    port: 8080
    count: 2
    resources: { cpu: 50, memory: 32 }
    checkInterval: 1s
    update: ${options.update ?? "{ minHealthyTime: 2s, healthyDeadline: 20s, progressDeadline: 40s }"}
`,
  );
  return file;
}

export interface CliRun {
  exitCode: number;
  /** The JSON-lines events on stdout (with --json). */
  events: Array<Record<string, unknown>>;
  stdout: string;
  stderr: string;
}

/** Runs `elm-infra <args> --config <config> --target <target> --json` with only `env` added. */
export async function runCli(
  args: string[],
  options: { config: string; target: string; env?: Record<string, string>; json?: boolean },
): Promise<CliRun> {
  const res = await execa(
    "node",
    [
      cliPath,
      ...args,
      "--config",
      options.config,
      "--target",
      options.target,
      ...(options.json === false ? [] : ["--json"]),
    ],
    { reject: false, timeout: 300_000, stdin: "ignore", env: { CI: "true", ...options.env } },
  );
  const events = res.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { exitCode: res.exitCode ?? -1, events, stdout: res.stdout, stderr: res.stderr };
}

/** The message of a run's error event. */
export function errorOf(run: CliRun): string {
  const e = run.events.find((ev) => ev.type === "error");
  return e ? String(e.message) : `no error event; stderr: ${run.stderr}`;
}
