/**
 * What every scenario of the shared local cluster uses: the cluster's name and folder, the real
 * CLI run as a user would (`--json`), Docker, and requests through the load balancer. The cluster
 * itself is brought up once by cluster.test.ts; scenario modules (scenarios/*.ts) register their
 * `it` blocks in the order cluster.test.ts calls them, destructive ones last. Every run gets the
 * target's store's access key (e2e.env); a run with secondCopy() is the second operator's.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { execa, type Result, type ResultPromise } from "execa";
import { Agent, request } from "undici";
import { expect } from "vitest";
import type { StatusResult } from "../../src/commands/status.js";
import { loadConfig } from "../../src/config/load.js";
import { readInventory } from "../../src/cluster/inventory.js";
import { withCluster, type ClusterApis } from "../../src/cluster/connect.js";
import { DockerClient } from "../../src/docker/client.js";
import { StoreClient } from "../../src/store/client.js";
import { imageRef } from "../../src/plan/registry.js";
import { pushAuth } from "../../src/tasks/registry.js";
import {
  failedRequests,
  startProbe,
  type ProbeHandle,
  type ProbeReport,
} from "../../src/traefik/probe.js";
import type { LocalObjectStore } from "../harness/object-store.js";

export const repo = resolve(import.meta.dirname, "../..");
const cli = join(repo, "dist/cli/main.js");

/** The shared cluster: its name is fixed at import; the rest is set by cluster.test.ts's beforeAll. */
export const e2e = {
  target: `e2e-${randomBytes(3).toString("hex")}`,
  work: "",
  config: "",
  httpPort: 0,
  httpsPort: 0,
  /** Milliseconds spent per command, printed after the run. */
  timings: {} as Record<string, number>,
  /** Every CLI run's stdout and stderr, in order: what the secrets audit searches. */
  outputs: [] as string[],
  /**
   * The target's shared store (issue 23, versitygw on loopback, started before the target):
   * where its OpenTofu state, operations lock, encrypted secrets, files and backups' copies are.
   */
  store: undefined as LocalObjectStore | undefined,
  /** What every run of the CLI gets in its environment: the store's access key. */
  env: {} as Record<string, string>,
  /** The operators listed in cluster.yaml: the first copy's, and the second's (secondCopy). */
  operators: [] as Array<{ name: string; identity: string; recipient: string }>,
  /** The second working copy (cluster.test.ts's beforeAll): its folder, config and environment. */
  second: { work: "", config: "", env: {} as Record<string, string> },
  /**
   * The second operator's CI job, another fresh checkout (cluster.test.ts): its bring-up races
   * the first copy's. Its folder stays until the end, for the secrets audit.
   */
  ciCopy: { work: "", config: "", env: {} as Record<string, string> },
};

/** A working copy's runs, as RunOverrides: its cluster.yaml, its folder, its environment. */
export const runsIn = (copy: typeof e2e.second): RunOverrides => ({
  config: copy.config,
  cwd: copy.work,
  env: copy.env,
});

/** The second working copy's runs (another folder, its own operator's keys): RunOverrides. */
export const secondCopy = (): RunOverrides => runsIn(e2e.second);

/** A client of the e2e target's store, under its prefix; the caller closes it. */
export const e2eStoreClient = (): StoreClient =>
  new StoreClient(e2e.store!.location(`elm-infra/${e2e.target}/`), e2e.store!.credentials);

export const label = () => `label=elm-infra.target=${e2e.target}`;

export interface Run {
  exitCode: number;
  events: Array<Record<string, unknown>>;
  stderr: string;
}

const parse = (stdout: string) =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * What a run may change from the shared cluster's defaults: another cluster.yaml, more env,
 * another working folder (the second working copy's).
 */
export interface RunOverrides {
  config?: string;
  cwd?: string;
  target?: string;
  env?: Record<string, string>;
  /** The global options before `args` (a command whose arguments end with `-- <command...>`). */
  globalsFirst?: boolean;
}

/** Starts the CLI against the shared cluster; the caller awaits or watches it. */
export function start(args: string[], timeoutMs = 900_000, o: RunOverrides = {}): ResultPromise {
  const where = ["--config", o.config ?? e2e.config, "--target", o.target ?? e2e.target];
  const argv = o.globalsFirst ? [...where, "--json", ...args] : [...args, ...where, "--json"];
  const run = execa("node", [cli, ...argv], {
    cwd: o.cwd ?? e2e.work,
    reject: false,
    stdin: "ignore",
    timeout: timeoutMs,
    env: { CI: "true", ...e2e.env, ...o.env },
  });
  // Every run's output, for the secrets audit (scenarios/secrets.ts).
  run.then(
    (r) => e2e.outputs.push(`${args.join(" ")}\n${String(r.stdout)}\n${String(r.stderr)}`),
    () => undefined,
  );
  return run;
}

/** A finished CLI run as the scenarios read it: exit code, JSON events, stderr. */
export const runOf = (r: Result): Run => ({
  exitCode: r.exitCode ?? -1,
  events: parse(String(r.stdout)),
  stderr: String(r.stderr),
});

/** Adds `ms` to the run's timings under the command line. */
const timed = (args: string[], ms: number) => {
  const key = args.join(" ");
  e2e.timings[key] = (e2e.timings[key] ?? 0) + ms;
};

/** Runs the CLI to its end; its time is added to the run's timings under the command line. */
export async function elmInfra(
  args: string[],
  timeoutMs?: number,
  overrides?: RunOverrides,
): Promise<Run> {
  const began = Date.now();
  const r = await start(args, timeoutMs, overrides);
  timed(args, Date.now() - began);
  return runOf(r);
}

/**
 * Runs the CLI to its end while `watch` looks at it as it runs (its stdout as it comes, whether
 * it finished): what a scenario proves during a command rather than after it. Timed as elmInfra.
 */
export async function elmInfraWatched<T>(
  args: string[],
  watch: (running: ResultPromise) => Promise<T>,
  overrides?: RunOverrides,
): Promise<{ run: Run; watched: T }> {
  const began = Date.now();
  const running = start(args, undefined, overrides);
  try {
    const watched = await watch(running);
    return { run: runOf(await running), watched };
  } finally {
    // A watch that threw: the command still runs to its end before the scenario fails.
    await running.catch(() => undefined);
    timed(args, Date.now() - began);
  }
}

/**
 * Resolves once a running command (--json) has begun its first step, past the operations lock
 * it takes before its steps, or has ended.
 */
export async function stepsBegun(running: ResultPromise): Promise<void> {
  let stdout = "";
  await new Promise<void>((began) => {
    running.stdout!.on("data", (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes('"state":"started"')) began();
    });
    void running.finally(() => began());
  });
}

/** One JSON event of the CLI's --json output, as the e2e's watchers read it. */
export interface WatchedEvent {
  type?: string;
  message?: string;
  title?: string;
  state?: string;
}

/**
 * Calls `onEvent` with each JSON event a running command prints, as it arrives (its stdout cut
 * into whole lines), and resolves once the command has ended.
 */
export async function eachEvent(
  running: ResultPromise,
  onEvent: (event: WatchedEvent) => void,
): Promise<void> {
  let partial = "";
  running.stdout?.on("data", (chunk: Buffer) => {
    const lines = (partial + String(chunk)).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.startsWith("{")) onEvent(JSON.parse(line) as WatchedEvent);
  });
  await running.catch(() => undefined);
}

/**
 * Runs the CLI and keeps when each of its log and task lines arrived (seconds from the start):
 * where a long command spends its time, printed by the scenarios whose time is budgeted.
 */
export async function elmInfraTimed(args: string[]): Promise<{ run: Run; timeline: string[] }> {
  const began = Date.now();
  const { run, watched } = await elmInfraWatched(args, async (running) => {
    const lines: string[] = [];
    await eachEvent(running, (e) => {
      const what = e.type === "log" ? e.message : e.type === "task" ? `${e.state}: ${e.title}` : "";
      if (what) lines.push(`${((Date.now() - began) / 1000).toFixed(1)} s ${what.slice(0, 160)}`);
    });
    return lines;
  });
  return { run, timeline: watched };
}

/** Each service's version, as `status` reports it (undefined: not deployed). */
export async function runningVersions(): Promise<Record<string, string | undefined>> {
  const status = await elmInfra(["status"]);
  expect(status.exitCode, errorOf(status)).toBe(0);
  const { services } = resultOf<StatusResult>(status);
  return Object.fromEntries(services.map((s) => [s.service, s.version ?? undefined]));
}

/**
 * Where a site's image is built from: the fixture site; for the package site its Go server,
 * built once per run into the run's folder with its data beside it.
 */
export async function buildContext(service: string): Promise<string> {
  if (service !== "package.elm-lang.org") return join(repo, `test/fixtures/sites/${service}/site`);
  const pkg = join(e2e.work, "package-build");
  if (await stat(join(pkg, "server")).catch(() => undefined)) return pkg;
  await mkdir(pkg, { recursive: true });
  await execa("go", ["build", "-trimpath", "-o", join(pkg, "server"), "."], {
    cwd: join(repo, "test/fixtures/sites/package.elm-lang.org/server"),
    env: { CGO_ENABLED: "0", GOOS: "linux", GOARCH: "amd64", GOFLAGS: "-mod=mod" },
    timeout: 300_000,
  });
  await cp(join(repo, "test/fixtures/sites/package.elm-lang.org/data"), join(pkg, "data"), {
    recursive: true,
  });
  return pkg;
}

/** `deploy <service>@<version> --build` from the fixtures (buildContext), as a user runs it. */
export const deployFromFixtures = async (service: string, version: string): Promise<Run> =>
  elmInfra([
    "deploy",
    `${service}@${version}`,
    "--build",
    "--context",
    await buildContext(service),
    "--yes",
  ]);

/** For ensureDeployed: whatever version runs will do (1.0.0 is deployed when none does). */
export const anyVersion = "*";

/**
 * What a scenario needs running before it starts: each service at its version (or anyVersion),
 * deployed from the fixtures only when another version (or none) runs. In a whole run it is one
 * `status`; a scenario run alone after the bring-up (`-t "bring-up interrupted|<its name>"`)
 * deploys what it needs.
 */
export async function ensureDeployed(wanted: Record<string, string>): Promise<void> {
  const running = await runningVersions();
  for (const [service, version] of Object.entries(wanted)) {
    const now = running[service];
    if (now !== undefined && (version === anyVersion || now === version)) continue;
    const r = await deployFromFixtures(service, version === anyVersion ? "1.0.0" : version);
    expect(r.exitCode, `ensureDeployed ${service}@${version}: ${errorOf(r)}`).toBe(0);
  }
}

/** Both sites at 1.0.0: where the scenarios that change versions start and end. */
export const bothSitesAt100 = { "elm-lang.org": "1.0.0", "package.elm-lang.org": "1.0.0" };

export const resultOf = <T>(r: Run) => r.events.find((e) => e.type === "result")?.data as T;
export const errorOf = (r: Run) =>
  String(r.events.find((e) => e.type === "error")?.message ?? r.stderr.slice(-2000));

export async function docker(...args: string[]): Promise<string> {
  return String((await execa("docker", args, { stdin: "ignore", timeout: 120_000 })).stdout).trim();
}

/**
 * Pushes an image of this machine to the shared cluster's registry as `<repository>:<version>`,
 * the way `image` pushes (the project's Docker client, the target's push credentials); returns
 * the local tag it made, for removeImages.
 */
export async function pushToTargetRegistry(
  source: string,
  repository: string,
  version: string,
): Promise<string> {
  const config = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  const pushRef = imageRef(config.target.registry, repository, version, "push");
  const client = DockerClient.local();
  await client.tag(source, pushRef);
  await client.push(pushRef, pushAuth(config));
  return pushRef;
}

/** The CA certificates the shared cluster's target trusts (bring-up wrote Pebble's root there). */
export const trustedCa = () => readFile(join(e2e.work, ".elm-infra", e2e.target, "ca.pem"), "utf8");

/** A request through the load balancer over HTTPS, as a visitor sends it (the target's CA verifies it). */
export async function throughLoadBalancer(
  host: string,
  path: string,
  o: { method?: "GET" | "PUT"; body?: string; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}> {
  const dispatcher = new Agent({ connect: { ca: await trustedCa(), servername: host } });
  try {
    const res = await request(`https://127.0.0.1:${e2e.httpsPort}${path}`, {
      method: o.method ?? "GET",
      headers: { host, ...o.headers },
      ...(o.body !== undefined ? { body: o.body } : {}),
      dispatcher,
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

/** GET through the load balancer over HTTPS: the status. */
export async function viaLoadBalancer(host: string, path: string): Promise<number> {
  return (await throughLoadBalancer(host, path)).status;
}

/**
 * The SDK's probe (src/traefik/probe.ts) on one site through the load balancer's HTTPS port,
 * verified against the target's CA, as a visitor would reach it.
 */
export async function startSiteProbe(
  hostname: string,
  o: { ratePerSecond?: number; seconds?: number; onProgress?: (r: ProbeReport) => void } = {},
): Promise<ProbeHandle> {
  return startProbe({
    url: `https://127.0.0.1:${e2e.httpsPort}`,
    hostname,
    ca: await trustedCa(),
    seconds: o.seconds ?? 1800,
    ...(o.ratePerSecond ? { ratePerSecond: o.ratePerSecond } : {}),
    progressEveryMs: 1000,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
}

export async function secretsFile(): Promise<string> {
  return readFile(join(e2e.work, "secrets", `${e2e.target}.yaml`), "utf8").catch(() => "");
}

/** The running host containers (managers, then workers, each by number; not the load balancer), one a line. */
export async function hostNames(): Promise<string> {
  const number = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? 0);
  // docker ps lists the newest first: by number instead, as the hosts are named.
  const byRole = async (role: string) =>
    (
      await docker(
        "ps",
        "--filter",
        label(),
        "--filter",
        `label=elm-infra.role=${role}`,
        "--format",
        "{{.Names}}",
      )
    )
      .split("\n")
      .filter((l) => l)
      .sort((a, b) => number(a) - number(b));
  return [...(await byRole("manager")), ...(await byRole("worker"))].join("\n");
}

/** Each host's Consul and Nomad main pids: unchanged means no agent restarted. */
export async function agentPids(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await hostNames()).split("\n")) {
    if (!name) continue;
    out[name] = await docker(
      "exec",
      name,
      "systemctl",
      "show",
      "-p",
      "MainPID",
      "--value",
      "consul",
      "nomad",
    );
  }
  return out;
}

/** Both sites, as visitors reach them through the load balancer. */
export const siteHostnames = ["elm-lang.org", "package.elm-lang.org"] as const;

/**
 * Runs `operation` with the SDK's request probe (src/traefik/probe.ts) sending to each hostname
 * through the load balancer for the whole of it (20 requests a second each unless told, at most
 * 30 minutes), then stops the probes and returns their reports beside the operation's value.
 * `sofar` gives the reports as of the last second. The probes stop whether or not it throws.
 */
export async function underProbe<T>(
  operation: (sofar: () => ProbeReport[]) => Promise<T>,
  o: { hostnames?: readonly string[]; ratePerSecond?: number } = {},
): Promise<{ value: T; reports: ProbeReport[] }> {
  const latest: ProbeReport[] = [];
  const probes = await Promise.all(
    (o.hostnames ?? siteHostnames).map((hostname, i) =>
      startSiteProbe(hostname, {
        ...(o.ratePerSecond ? { ratePerSecond: o.ratePerSecond } : {}),
        onProgress: (r) => (latest[i] = r),
      }),
    ),
  );
  try {
    const value = await operation(() => latest);
    return { value, reports: await Promise.all(probes.map((p) => p.stop())) };
  } finally {
    await Promise.all(probes.map((p) => p.stop()));
  }
}

/** What a zero-downtime assertion compares: per hostname, the failed requests and the first few. */
export const failedRequestsOf = (reports: ProbeReport[]) =>
  Object.fromEntries(
    reports.map((r) => [r.hostname, { failed: failedRequests(r), first: r.failures.slice(0, 5) }]),
  );
export const noFailures = (reports: ProbeReport[]) =>
  Object.fromEntries(reports.map((r) => [r.hostname, { failed: 0, first: [] }]));

/**
 * The ACME issuer's last log lines, from every worker that has run one (Nomad names a task's
 * container <task>-<allocation id>): printed where a certificate was found not renewed.
 */
export async function issuerLogs(lines = 60): Promise<string> {
  const workers = (await hostNames()).split("\n").filter((n) => n.includes("-worker-"));
  const out: string[] = [];
  for (const worker of workers)
    out.push(
      await docker(
        "exec",
        worker,
        "sh",
        "-c",
        `for c in $(docker ps -aq --filter name=^issuer-); do echo "== ${worker} $c"; docker logs --tail ${lines} "$c" 2>&1; done`,
      ).catch((e: Error) => `== ${worker}: ${e.message.slice(0, 200)}`),
    );
  return out.join("\n");
}

/** `work` with the e2e target's APIs (through its tunnel), closed after; bounded at 60 s. */
export async function withE2eCluster<T>(work: (apis: ClusterApis) => Promise<T>): Promise<T> {
  const config = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  return withCluster(config, { signal: AbortSignal.timeout(60_000) }, work);
}

/** The worker that holds the package data now, as the inventory (of `file`'s copy) records it. */
export async function packageDataHolder(file = e2e.config): Promise<string> {
  const config = await loadConfig({ file, target: e2e.target });
  return (await readInventory(config))!.packageDataHost!;
}

/** sha256 of every file on the holder's package data volume, one `<sum>  <path>` a line, sorted. */
export async function volumeSums(host: string): Promise<string> {
  return docker(
    "exec",
    host,
    "sh",
    "-c",
    "cd /srv/package-data && find . -type f | sort | xargs -r sha256sum",
  );
}

/** The target's test DNS (challtestsrv's management API, inside its container), as iac/local uses it. */
async function testDns(path: string, body: object): Promise<void> {
  await execa("docker", [
    "exec",
    `${e2e.target}-acme-dns`,
    "curl",
    "-sS",
    "--fail",
    "--max-time",
    "5",
    `http://localhost:8055/${path}`,
    "-d",
    JSON.stringify(body),
  ]);
}

/** Removes `hostname`'s A record from the target's test DNS (as a user who never made it). */
export const clearRecord = (hostname: string) => testDns("clear-a", { host: hostname });

/**
 * Waits until the running command's output says `hostname` has no A record, then makes it in the
 * target's test DNS, for the load balancer's address the inventory records, as a user would.
 * Returns what the command said until then.
 */
export async function makeRecordWhenAsked(
  running: ResultPromise,
  hostname: string,
): Promise<string> {
  let out = "";
  await new Promise<void>((resolveAsked, reject) => {
    running.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(`${hostname}: no A record`)) resolveAsked();
    });
    running.then(
      () =>
        reject(
          new Error(
            `the command ended without asking for ${hostname}'s record:\n${out.slice(-2000)}`,
          ),
        ),
      reject,
    );
  });
  const config = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  const inventory = await readInventory(config);
  await testDns("add-a", { host: hostname, addresses: [inventory!.dns!.address] });
  return out;
}
