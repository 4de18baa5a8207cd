import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import Docker from "dockerode";
import {
  consulDevConfig,
  nomadDevConfig,
  readyDockerNode,
  traefikDevConfig,
  type NodeReadiness,
  type TraefikProvider,
} from "../../src/cluster/dev-agents.js";
import { freePorts } from "./ports.js";
import { lastLines, readLog, trackLogs } from "./logs.js";

/**
 * Real Consul, Nomad and Traefik agents for integration tests. Each agent listens only on free
 * 127.0.0.1 ports, keeps its config, data and log in its own temp folder, and is stopped by its
 * process id (SIGTERM, then SIGKILL of its process group after a bounded wait). Nomad's jobs are
 * stopped and its containers removed before Nomad itself is stopped.
 */

export type Tool = "consul" | "nomad" | "traefik" | "versitygw" | "tofu";

export interface Agent {
  name: string;
  pid: number;
  /** The agent's temp folder: config, data and log. Removed on stop. */
  dir: string;
  logs(): string;
  stop(): Promise<void>;
}

export interface ConsulAgent extends Agent {
  /** http://127.0.0.1:port */
  http: string;
  /** 127.0.0.1:port, the form Nomad and Traefik take. */
  address: string;
}

export interface NomadAgent extends Agent {
  http: string;
  nodeId: string;
}

export type { TraefikProvider };

export interface TraefikAgent extends Agent {
  /** The `web` entrypoint: http://127.0.0.1:port */
  entrypoint: string;
  /** The API and /ping, on the dedicated `traefik` entrypoint: http://127.0.0.1:port */
  api: string;
  /** The `canary` entrypoint of the canary routers: http://127.0.0.1:port */
  canaryEntrypoint: string;
}

export interface Cluster {
  consul: ConsulAgent;
  nomad: NomadAgent;
  traefik: TraefikAgent;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Bound on the wait until the agent answers. */
  readyTimeoutMs?: number;
}

const running: Agent[] = [];

/** Where a tool's binary is: the installer's cache first (`ELM_INFRA_BIN` overrides it), then PATH. */
export function toolPath(tool: Tool): string {
  const cache = process.env.ELM_INFRA_BIN ?? join(homedir(), ".cache", "elm-infra", "bin");
  const dirs = [cache, ...(process.env.PATH ?? "").split(delimiter).filter(Boolean)];
  for (const dir of dirs) if (existsSync(join(dir, tool))) return join(dir, tool);
  throw new Error(
    `${tool} was not found in ${cache} or on PATH. Install it: bash src/tools/install.sh --only tools`,
  );
}

export function hasTool(tool: Tool): boolean {
  try {
    toolPath(tool);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Consul

export interface ConsulOptions extends StartOptions {
  /** Enforce ACLs (default deny), with this secret as the initial management token. */
  aclManagementToken?: string;
}

export async function startConsul(options: ConsulOptions = {}): Promise<ConsulAgent> {
  const [http, dns, grpc, serfLan, serfWan, server] = (await freePorts(6)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const dir = makeAgentDir("consul");
  const config = consulDevConfig({
    nodeName: `harness-consul-${http}`,
    dataDir: join(dir, "data"),
    ports: { http, dns, grpc, serfLan, serfWan, server },
    ...(options.aclManagementToken ? { aclManagementToken: options.aclManagementToken } : {}),
  });
  const configFile = join(dir, "consul.json");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const base = `http://127.0.0.1:${http}`;
  const agent = await launchAgent({
    name: "consul",
    dir,
    argv: [toolPath("consul"), "agent", "-dev", `-config-file=${configFile}`],
    ready: async () => {
      const leader = await getJson<string>(`${base}/v1/status/leader`);
      return typeof leader === "string" && leader.length > 0;
    },
    timeoutMs: options.readyTimeoutMs ?? 60_000,
  });
  return Object.assign(agent, { http: base, address: `127.0.0.1:${http}` });
}

// ---------------------------------------------------------------------------------------------
// Nomad

export interface NomadOptions extends StartOptions {
  consul: Pick<ConsulAgent, "address">;
  /**
   * Enforce ACLs. Nothing is bootstrapped: the test does that through the API. Ready as soon as a
   * leader is elected (listing nodes already needs a token), and no job is cleaned up at stop.
   */
  acl?: boolean;
}

export async function startNomad(options: NomadOptions): Promise<NomadAgent> {
  const [http, rpc, serf] = (await freePorts(3)) as [number, number, number];
  const dir = makeAgentDir("nomad");
  const configFile = join(dir, "nomad.hcl");
  writeFileSync(
    configFile,
    nomadDevConfig({
      name: `harness-nomad-${http}`,
      dataDir: join(dir, "data"),
      http,
      rpc,
      serf,
      consul: options.consul.address,
      acl: options.acl,
    }),
  );
  const base = `http://127.0.0.1:${http}`;
  let nodeId = "";
  const agent = await launchAgent({
    name: "nomad",
    dir,
    argv: [toolPath("nomad"), "agent", "-dev", `-config=${configFile}`],
    ready: async () => {
      if (options.acl) {
        const leader = await getJson<string>(`${base}/v1/status/leader`);
        return typeof leader === "string" && leader.length > 0;
      }
      const node = readyDockerNode((await getJson<NodeReadiness[]>(`${base}/v1/nodes`)) ?? []);
      if (node) nodeId = node.ID;
      return node !== undefined;
    },
    timeoutMs: options.readyTimeoutMs ?? 120_000,
    beforeStop: async () => {
      if (!options.acl) await stopNomadJobs(base);
      await removeNomadContainers(nodeId);
    },
    afterStop: async () => removeNomadContainers(nodeId),
  });
  return Object.assign(agent, { http: base, nodeId });
}

interface NomadJobStub {
  ID: string;
  Namespace?: string;
}

interface NomadAllocStub {
  ID: string;
  ClientStatus: string;
}

/** Stops every job, waits (bounded) until no allocation runs, then purges the jobs. */
async function stopNomadJobs(base: string): Promise<void> {
  const jobs = (await getJson<NomadJobStub[]>(`${base}/v1/jobs?namespace=*`)) ?? [];
  for (const job of jobs) {
    const ns = encodeURIComponent(job.Namespace ?? "default");
    await request(`${base}/v1/job/${encodeURIComponent(job.ID)}?namespace=${ns}`, {
      method: "DELETE",
    });
  }
  await waitFor(
    "allocations to stop",
    async () => {
      const allocs = (await getJson<NomadAllocStub[]>(`${base}/v1/allocations?namespace=*`)) ?? [];
      return allocs.every((a) => a.ClientStatus !== "running" && a.ClientStatus !== "pending");
    },
    { timeoutMs: 30_000 },
  ).catch(() => undefined); // containers are removed by label below whatever happened here
  for (const job of jobs) {
    const ns = encodeURIComponent(job.Namespace ?? "default");
    await request(`${base}/v1/job/${encodeURIComponent(job.ID)}?namespace=${ns}&purge=true`, {
      method: "DELETE",
    });
  }
}

const docker = new Docker();

/**
 * A tag of a local image other than "latest". Nomad's docker driver pulls ":latest" images every
 * time, whatever force_pull says, and nothing can be pulled here: jobs must name a pinned tag.
 */
export async function pinnedImage(repository = "elm-infra/tiny"): Promise<string> {
  const image = await docker.getImage(`${repository}:latest`).inspect();
  const pinned = (image.RepoTags ?? []).find(
    (tag) => tag.startsWith(`${repository}:`) && tag !== `${repository}:latest`,
  );
  if (!pinned)
    throw new Error(`${repository}:latest has no other tag; build it with images/base/build.sh`);
  return pinned;
}

/** Ids of the containers a Nomad client started (by its node id label), running or not. */
export async function nomadContainers(nodeId: string): Promise<string[]> {
  if (!nodeId) return [];
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`com.hashicorp.nomad.node_id=${nodeId}`] },
  });
  return containers.map((c) => c.Id);
}

async function removeNomadContainers(nodeId: string): Promise<void> {
  for (const id of await nomadContainers(nodeId).catch(() => [])) {
    await docker
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Traefik

export interface TraefikOptions extends StartOptions {
  consul?: Pick<ConsulAgent, "address">;
  /** The token Traefik reads Consul's catalog with, when Consul enforces ACLs. */
  consulToken?: string;
  nomad?: Pick<NomadAgent, "http">;
  /** Default: consulCatalog (and nomad too when a Nomad agent is given). */
  providers?: TraefikProvider[];
}

export async function startTraefik(options: TraefikOptions = {}): Promise<TraefikAgent> {
  const providers =
    options.providers ??
    (["consulCatalog", ...(options.nomad ? ["nomad"] : [])] as TraefikProvider[]);
  const [web, api, canary] = (await freePorts(3)) as [number, number, number];
  const dir = makeAgentDir("traefik");
  const configFile = join(dir, "traefik.yml");
  // JSON is YAML: Traefik reads this file by its extension.
  writeFileSync(
    configFile,
    JSON.stringify(
      traefikDevConfig({
        web,
        api,
        canary,
        providers,
        consul: options.consul?.address,
        ...(options.consulToken ? { consulToken: options.consulToken } : {}),
        nomad: options.nomad?.http,
      }),
      null,
      2,
    ),
  );
  const apiBase = `http://127.0.0.1:${api}`;
  const agent = await launchAgent({
    name: "traefik",
    dir,
    argv: [toolPath("traefik"), `--configFile=${configFile}`],
    ready: async () => (await request(`${apiBase}/ping`))?.status === 200,
    timeoutMs: options.readyTimeoutMs ?? 30_000,
  });
  return Object.assign(agent, {
    entrypoint: `http://127.0.0.1:${web}`,
    api: apiBase,
    canaryEntrypoint: `http://127.0.0.1:${canary}`,
  });
}

// ---------------------------------------------------------------------------------------------
// All three

export async function startCluster(
  options: { traefikProviders?: TraefikProvider[] } = {},
): Promise<Cluster> {
  const started: Agent[] = [];
  try {
    const consul = await startConsul();
    started.push(consul);
    const nomad = await startNomad({ consul });
    started.push(nomad);
    const traefik = await startTraefik({
      consul,
      nomad,
      providers: options.traefikProviders ?? ["consulCatalog"],
    });
    return {
      consul,
      nomad,
      traefik,
      stop: async () => {
        await traefik.stop();
        await nomad.stop();
        await consul.stop();
      },
    };
  } catch (error) {
    for (const agent of started.reverse()) await agent.stop();
    throw error;
  }
}

/** Stops every agent still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const agent of [...running].reverse()) await agent.stop();
}

/**
 * Processes left by agents: the agent itself, anything in its process group (Nomad's logmon and
 * docker_logger plugins) and anything whose command line names its temp folder.
 */
export function leftoverProcesses(agents: readonly Pick<Agent, "pid" | "dir">[]): number[] {
  const pids = new Set(agents.map((a) => a.pid));
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const state = fields[0];
      const pgid = Number(fields[2]);
      if (state === "Z") continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (pids.has(pid) || pids.has(pgid) || agents.some((a) => cmdline.includes(a.dir)))
        found.push(pid);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface LaunchSpec {
  name: string;
  dir: string;
  argv: string[];
  ready: () => Promise<boolean>;
  timeoutMs: number;
  beforeStop?: () => Promise<void>;
  afterStop?: () => Promise<void>;
}

function makeAgentDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `elm-infra-${name}-`));
  mkdirSync(join(dir, "data"));
  return dir;
}

async function launchAgent(spec: LaunchSpec): Promise<Agent> {
  const logFile = join(spec.dir, `${spec.name}.log`);
  const fd = openSync(logFile, "a");
  const [command, ...args] = spec.argv as [string, ...string[]];
  let child: ChildProcess;
  try {
    // Its own process group, so whatever it starts can be found and stopped with it.
    child = spawn(command, args, {
      cwd: spec.dir,
      stdio: ["ignore", fd, fd],
      detached: true,
      env: agentEnv(),
    });
  } finally {
    closeSync(fd);
  }
  child.unref();
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
    child.once("error", (error) => {
      exit = error.message;
      resolve();
    });
  });
  const pid = child.pid ?? -1;
  let finalLog: string | undefined;
  let stopping: Promise<void> | undefined;
  const agent: Agent = {
    name: spec.name,
    pid,
    dir: spec.dir,
    logs: () => finalLog ?? readLog(logFile),
    stop: () =>
      (stopping ??= (async () => {
        try {
          if (exit === undefined) await spec.beforeStop?.().catch(() => undefined);
        } finally {
          await stopProcessGroup(pid, exited, () => exit !== undefined);
          await spec.afterStop?.().catch(() => undefined);
          finalLog = readLog(logFile);
          removeAgentDir(spec.dir);
          untrack();
          const index = running.indexOf(agent);
          if (index >= 0) running.splice(index, 1);
        }
      })()),
  };
  const untrack = trackLogs(agent);
  running.push(agent);
  const started = Date.now();
  try {
    await waitFor(`${spec.name} to answer`, spec.ready, {
      timeoutMs: spec.timeoutMs,
      failFast: () => exit,
    });
  } catch (error) {
    const tail = lastLines(readLog(logFile), 50);
    await agent.stop();
    throw new Error(
      `${(error as Error).message}\n${spec.argv.join(" ")}\n--- last lines of ${spec.name}'s log ---\n${tail}`,
      { cause: error },
    );
  }
  if (process.env.ELM_INFRA_HARNESS_DEBUG)
    process.stderr.write(`[harness] ${spec.name} up in ${Date.now() - started} ms\n`);
  return agent;
}

/** The agents must not pick up a developer's own cluster settings. */
function agentEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(NOMAD_|CONSUL_|TRAEFIK_|AWS_)/.test(key)) env[key] = value;
  }
  return env;
}

async function stopProcessGroup(
  pid: number,
  exited: Promise<void>,
  hasExited: () => boolean,
): Promise<void> {
  if (pid <= 0) return;
  if (!hasExited()) {
    signal(pid, "SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
  }
  if (!hasExited()) {
    signal(-pid, "SIGKILL");
    await Promise.race([exited, sleep(5_000)]);
  }
  // Children that outlived the agent (plugins it started) are in its process group.
  if (groupAlive(pid)) {
    signal(-pid, "SIGTERM");
    for (let i = 0; i < 20 && groupAlive(pid); i++) await sleep(100);
    if (groupAlive(pid)) signal(-pid, "SIGKILL");
  }
}

function signal(target: number, name: NodeJS.Signals): void {
  try {
    process.kill(target, name);
  } catch {
    // already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Nomad mounts tmpfs (secrets) under its data dir; unmount anything left before deleting it. */
function removeAgentDir(dir: string): void {
  if (process.env.ELM_INFRA_KEEP_AGENT_DIRS) return;
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1]?.replace(/\\040/g, " "))
    .filter((m): m is string => m !== undefined && m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts)
    spawnSync("umount", ["-l", mount], { stdio: "ignore", timeout: 10_000 });
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

// Last resort when the test process ends without stopping its agents (a crash, Ctrl-C).
process.once("exit", () => {
  for (const agent of running) signal(-agent.pid, "SIGKILL");
});

// ---------------------------------------------------------------------------------------------
// Waiting and HTTP

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; failFast?: () => string | undefined },
): Promise<void> {
  const interval = options.intervalMs ?? 250;
  const deadline = Date.now() + options.timeoutMs;
  const maxAttempts = Math.ceil(options.timeoutMs / interval) + 1;
  for (let attempt = 0; attempt < maxAttempts && Date.now() < deadline; attempt++) {
    const reason = options.failFast?.();
    if (reason !== undefined)
      throw new Error(`gave up waiting for ${what}: the process ended (${reason})`);
    if (await check().catch(() => false)) return;
    await sleep(interval);
  }
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
}

async function request(url: string, init: RequestInit = {}): Promise<Response | undefined> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  } catch {
    return undefined;
  }
}

async function getJson<T>(url: string): Promise<T | undefined> {
  const response = await request(url);
  if (!response?.ok) return undefined;
  return (await response.json()) as T;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
