/**
 * The ingress (Traefik on every worker): its Consul token as a Nomad variable, its image in the
 * local target's registry, and the node-by-node rollout, each worker proven before the next and
 * the previous version put back on failure.
 */
import type { LoadedConfig } from "../config/load.js";
import { ConflictError, OperationError } from "../errors.js";
import { done, notYet, sleep, waitFor } from "../wait.js";
import type { NomadClient } from "../nomad/client.js";
import { ConsulClient } from "../consul/client.js";
import { consulServiceName } from "../plan/names.js";
import type { NomadJob } from "../nomad/types.js";
import {
  planIngressRollout,
  stepJob,
  traefikLag,
  versionsByWorker,
  prevailingVersion,
  workerAllocState,
  type JobWithGroups,
} from "../plan/ingress.js";
import {
  ingressJobName,
  ingressTokenVariable,
  ingressTokenVariableOf,
  loadBalancerTakesBackMs,
  traefikPlatformImage,
  type IngressWorker,
} from "../plan/job-vars.js";
import { pinnedVersion, renderIngressJob } from "../plan/jobs.js";
import { TraefikClient } from "../traefik/client.js";
import { connectToHost, remoteApiPorts, tunnelUrl } from "../cluster/connect.js";
import { workersOf, type Inventory, type InventoryHost } from "../cluster/inventory.js";
import { revertFailedRollout } from "./revert.js";
import {
  catalogMarkHostname,
  proveTraefiksReadCatalog,
  type WorkerCatalogPath,
} from "./catalog-mark.js";
import { buildsPlatformImages } from "../plan/registry.js";
import { pushPlatformImages } from "./registry.js";

type Log = (line: string) => void;

/**
 * Writes Traefik's Consul token into each worker's Nomad variable (the one its group's template
 * reads) where it differs; returns the workers whose variable was written.
 */
export async function ensureIngressToken(
  nomad: NomadClient,
  token: string,
  workers: readonly string[],
): Promise<string[]> {
  const written: string[] = [];
  for (const worker of workers) {
    const path = ingressTokenVariableOf(worker);
    const current = await nomad.readVariable(path);
    if (current?.Items.consul_token === token) continue;
    await nomad.writeVariable(path, { consul_token: token });
    written.push(worker);
  }
  return written;
}

/**
 * The variable every worker's Traefik read before each had its own: deleted once the ingress job
 * rolled onto the workers' own (no group reads it then), so no stale token stays in Nomad.
 */
export async function forgetSharedIngressToken(nomad: NomadClient): Promise<boolean> {
  if (!(await nomad.readVariable(ingressTokenVariable))) return false;
  await nomad.deleteVariable(ingressTokenVariable);
  return true;
}

/** Does every worker's group of the running ingress job read its own token variable? */
export async function readsWorkerTokens(
  nomad: NomadClient,
  workers: readonly string[],
): Promise<boolean> {
  const job = JSON.stringify((await nomad.readJob(ingressJobName)) ?? {});
  return workers.every((w) => job.includes(`nomadVar \\"${ingressTokenVariableOf(w)}\\"`));
}

/**
 * A new Consul token for one worker's Traefik: written into that worker's variable, whose
 * template restarts its Traefik alone (SIGTERM: its ping answers 503 while it keeps serving, so
 * the load balancer takes it out first). Returns once it runs again and routes at least as many
 * hostnames as before through the catalog it reads with the new token, and the load balancer
 * had time to take it back in.
 */
export async function renewWorkerToken(o: {
  config: LoadedConfig;
  inventory: Inventory;
  nomad: NomadClient;
  worker: string;
  token: string;
  log: Log;
  signal?: AbortSignal;
  loadBalancerSettleMs?: number;
}): Promise<void> {
  const host = o.inventory.hosts.find((h) => h.name === o.worker)!;
  const startedAt = async () => {
    const allocs = await o.nomad.jobAllocations(ingressJobName);
    const running = allocs.data.find(
      (a) => a.TaskGroup === o.worker && a.ClientStatus === "running",
    );
    return running?.TaskStates?.traefik?.StartedAt ?? undefined;
  };
  const before = await startedAt();
  const routersBefore = (await proveWorkerTraefik(o.config, host)).routers;
  if ((await ensureIngressToken(o.nomad, o.token, [o.worker])).length === 0) {
    o.log(`${o.worker}: Traefik's variable already holds the new token`);
    return;
  }
  o.log(`${o.worker}: new token written; its Traefik restarts to read it`);
  const detail = await waitFor(
    {
      what: `Traefik on ${o.worker} to restart with its new token and route`,
      timeoutMs: 120_000,
      intervalMs: 1000,
      ...(o.signal ? { signal: o.signal } : {}),
      hint: "read its allocation's events: nomad job status ingress",
    },
    async () => {
      const now = await startedAt();
      if (!now || now === before) return notYet("not restarted yet");
      const proof = await proveWorkerTraefik(o.config, host);
      if (!proof.ok) return notYet(proof.detail);
      if (proof.routers < routersBefore)
        return notYet(`${proof.routers} of ${routersBefore} routes from the catalog so far`);
      return done(proof.detail);
    },
  );
  o.log(`${o.worker}: ${detail}`);
  await sleep(
    o.loadBalancerSettleMs ?? loadBalancerTakesBackMs(o.config.target.provider),
    o.signal,
  );
}

/**
 * Traefik's image in the target's registry: where the target builds it (the local target, from
 * the pinned binary) this machine's image is pushed; elsewhere the workers pull the official one.
 */
export async function pushTraefikImage(
  config: LoadedConfig,
  version: string,
  log: Log,
): Promise<void> {
  if (!buildsPlatformImages(config.target)) return;
  await pushPlatformImages(config, [traefikPlatformImage(version)], log);
}

/** Does this worker's Traefik answer its ping, its API, and route every hostname it knows? */
export async function proveWorkerTraefik(
  config: LoadedConfig,
  host: InventoryHost,
): Promise<{ ok: boolean; detail: string; routers: number }> {
  let ssh;
  try {
    ssh = await connectToHost(config, host, "require-pinned");
  } catch (error) {
    return { ok: false, detail: (error as Error).message, routers: 0 };
  }
  try {
    const ping = new TraefikClient({
      api: "http://127.0.0.1:1",
      entrypoint: await tunnelUrl(ssh, remoteApiPorts.traefikPing),
      deadlineMs: 3000,
    });
    const pinged = await ping.probe("ping", "/ping").catch((e: Error) => e);
    if (pinged instanceof Error) return { ok: false, detail: pinged.message, routers: 0 };
    if (pinged.status !== 200)
      return { ok: false, detail: `ping answered ${pinged.status}`, routers: 0 };
    const traefik = new TraefikClient({
      api: await tunnelUrl(ssh, remoteApiPorts.traefikApi),
      entrypoint: await tunnelUrl(ssh, remoteApiPorts.entrypoint),
      deadlineMs: 5000,
    });
    // Not the canaries' routers (a header picks them), nor the mark of a catalog read
    // (catalog-mark.ts), which routes nowhere.
    const routers = (await traefik.routers()).filter(
      (r) =>
        r.provider === "consulcatalog" &&
        !/Header\(/.test(r.rule) &&
        !r.rule.includes(catalogMarkHostname),
    );
    for (const r of routers) {
      const hostname = /Host\(`([^`]+)`\)/.exec(r.rule)?.[1];
      if (!hostname) continue;
      const res = await traefik.probe(hostname, "/");
      if (res.status >= 500)
        return { ok: false, detail: `${hostname} answered ${res.status}`, routers: routers.length };
    }
    return {
      ok: true,
      detail: `ping 200, ${routers.length} route(s) answer`,
      routers: routers.length,
    };
  } catch (error) {
    return { ok: false, detail: (error as Error).message, routers: 0 };
  } finally {
    await ssh.close();
  }
}

/**
 * Waits (bounded) until every worker's Traefik routes each service to exactly the instances
 * Consul lists as passing (plan/ingress.ts traefikLag says why this can lag). Before an
 * allocation moves after a host's cycle, so that no Traefik still sends requests to the instance
 * that leaves. After Consul's servers were away (a manager's reboot or restart), equal routes do
 * not show that the catalog reaches each Traefik again (nothing may have changed meanwhile): with
 * `serversWereAway`, every Traefik must first route to a mark each worker's Consul agent
 * registers now (catalog-mark.ts).
 * Returns how long it waited (ms).
 */
export async function untilTraefikCatchesUp(
  config: LoadedConfig,
  inventory: Inventory,
  consul: ConsulClient,
  options: { signal?: AbortSignal; timeoutMs?: number; serversWereAway?: boolean } = {},
): Promise<number> {
  const began = Date.now();
  const services = Object.keys(config.services).map(consulServiceName);
  const workers = workersOf(inventory);
  if (services.length === 0 || workers.length === 0) return 0;
  const opened: Array<Awaited<ReturnType<typeof connectToHost>>> = [];
  try {
    const clients: WorkerCatalogPath[] = [];
    for (const host of workers) {
      const ssh = await connectToHost(config, host, "require-pinned");
      opened.push(ssh);
      clients.push({
        name: host.name,
        consul: new ConsulClient({
          address: await tunnelUrl(ssh, remoteApiPorts.consul),
          where: `127.0.0.1:${remoteApiPorts.consul} on ${host.name} (through SSH)`,
          ...(config.secrets.consulToken ? { token: config.secrets.consulToken } : {}),
          deadlineMs: 5000,
        }),
        traefik: new TraefikClient({
          api: await tunnelUrl(ssh, remoteApiPorts.traefikApi),
          entrypoint: "http://127.0.0.1:1",
          deadlineMs: 3000,
        }),
      });
    }
    if (options.serversWereAway)
      await proveTraefiksReadCatalog(clients, {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      });
    let lag: string[] = [];
    await waitFor(
      {
        what: "every worker's Traefik to route as Consul's catalog says",
        timeoutMs: options.timeoutMs ?? 120_000,
        intervalMs: 1000,
        ...(options.signal ? { signal: options.signal } : {}),
        message: (t) =>
          `a worker's Traefik has not caught up with Consul within ${t.seconds} s: ${lag.join("; ")}`,
        hint: "Traefik's Consul provider retries with a backoff after errors; its log (nomad alloc logs -job ingress) says what it met. Nothing was moved",
      },
      async () => {
        const consulView: Record<string, string[]> = {};
        for (const service of services)
          consulView[service] = (await consul.serviceHealth(service, { passingOnly: true }))
            .filter((h) => !(h.Service.Tags ?? []).includes("canary"))
            .map((h) => `http://${h.Service.Address || h.Node.Address}:${h.Service.Port}`);
        const traefikView: Record<string, Record<string, string[]>> = {};
        for (const { name, traefik } of clients) {
          traefikView[name] = {};
          for (const service of services) {
            const seen = await traefik.service(service).catch(() => undefined);
            traefikView[name][service] = (seen?.loadBalancer?.servers ?? []).map((x) => x.url);
          }
        }
        lag = traefikLag(consulView, traefikView);
        return lag.length === 0 ? done(undefined) : notYet(lag.join("; "));
      },
    );
    const waited = Date.now() - began;
    return waited;
  } finally {
    for (const ssh of opened) await ssh.close();
  }
}

/** untilTraefikCatchesUp's result as progress says it. */
export const traefikCaughtUp = (waitedMs: number, readsAgain = false): string =>
  `every worker's Traefik ${readsAgain ? "reads Consul's catalog again and routes as it says" : "routes as Consul's catalog says"}${waitedMs > 2000 ? ` (after ${Math.round(waitedMs / 1000)} s)` : ""}`;

/**
 * The Traefik version the ingress runs now (plan/ingress.ts prevailingVersion: most workers',
 * the pinned one on a tie); the pinned one before any.
 */
export async function runningIngressVersion(nomad: NomadClient): Promise<string> {
  const running = Object.values(versionsByWorker((await nomad.readJob(ingressJobName)) as never));
  const pinned = await pinnedVersion("traefik");
  return prevailingVersion(running, pinned) ?? pinned;
}

export interface RollIngressOptions {
  config: LoadedConfig;
  inventory: Inventory;
  nomad: NomadClient;
  version: string;
  log: Log;
  signal?: AbortSignal;
  /** How long one worker may take to run and answer; default 2 minutes. */
  perWorkerDeadlineMs?: number;
  /** After a worker is proven, time for the load balancer's health check to take it back in. */
  loadBalancerSettleMs?: number;
  /**
   * Only the workers missing from the job join it (at `version`); the others keep the version
   * they run. A worker back from a host cycle: during `upgrade`, it comes back at the new version
   * while the workers not cycled yet keep the old one.
   */
  addOnly?: boolean;
}

export interface IngressResult {
  version: string;
  changed: boolean;
  /** Each worker and the version it runs now. */
  workers: IngressWorker[];
  steps: string[];
}

/**
 * Converges the ingress job to `version` on every worker, one worker at a time. A worker that
 * does not run and answer within its deadline gets its previous group back, and the rollout
 * stops with an error naming it; the workers not reached keep their version.
 */
export async function rollIngress(o: RollIngressOptions): Promise<IngressResult> {
  const workers = workersOf(o.inventory).map((w) => w.name);
  const desired = (await o.nomad.parseJob(
    await renderIngressJob(
      o.config,
      workers.map((name) => ({ name, version: o.version })),
    ),
  )) as JobWithGroups & NomadJob;
  const plan = await o.nomad.planJob(desired);
  const steps: string[] = [];
  const current = await o.nomad.readJob(ingressJobName);
  const result = (changed: boolean): IngressResult => ({
    version: o.version,
    changed,
    workers: workers.map((name) => ({ name, version: o.version })),
    steps,
  });
  if (current && plan.Diff?.Type === "None") {
    // The job matches; still prove every worker (a stopped Traefik is not "unchanged").
    await proveAll(o, workers);
    return result(false);
  }
  if (!current) {
    await register(o.nomad, desired, undefined);
    steps.push(`ingress@${o.version} on ${workers.join(", ")}`);
    await proveAll(o, workers);
    return result(true);
  }
  const rollout = planIngressRollout(current as JobWithGroups, workers);
  // New workers join (and departed ones leave) first: they carry no traffic yet.
  if (rollout.add.length > 0 || rollout.remove.length > 0) {
    const job = stepJob(current as JobWithGroups, desired, rollout.add, workers) as NomadJob;
    await register(o.nomad, job, current);
    steps.push(
      [
        ...rollout.add.map((w) => `${w}: added at ${o.version}`),
        ...rollout.remove.map((w) => `${w}: removed`),
      ].join(", "),
    );
    await proveAll(o, rollout.add);
  }
  if (o.addOnly) return result(rollout.add.length > 0 || rollout.remove.length > 0);
  for (const worker of rollout.roll) {
    const before = (await o.nomad.readJob(ingressJobName)) as JobWithGroups & NomadJob;
    const candidate = stepJob(before, desired, [worker], workers) as NomadJob;
    const stepPlan = await o.nomad.planJob(candidate);
    if (stepPlan.Diff?.Type === "None") continue;
    const from = versionsByWorker(before)[worker];
    o.log(`${worker}: Traefik ${from} → ${o.version}`);
    const version = await register(o.nomad, candidate, before);
    try {
      await waitForWorker(o, worker, version);
    } catch (error) {
      await revertFailedRollout(
        error,
        {
          what: `ingress@${o.version} on ${worker}`,
          previousVersion: from,
          untouched: "the workers after it were not touched",
          hint: "read the allocation's events: nomad alloc status, or elm-infra status",
          revertHint: `read the allocation's events: nomad job status ${ingressJobName}, or elm-infra status`,
        },
        {
          warn: o.log,
          // The worker's group as it was before this step, its Traefik seen running and answering.
          revert: async (signal) => {
            const now = (await o.nomad.readJob(ingressJobName)) as JobWithGroups & NomadJob;
            const restored = stepJob(now, before, [worker], workers) as NomadJob;
            const back = await register(o.nomad, restored, now);
            await waitForWorker({ ...o, signal }, worker, back);
          },
        },
      );
    }
    steps.push(`${worker}: ${from} → ${o.version}`);
    await sleep(
      o.loadBalancerSettleMs ?? loadBalancerTakesBackMs(o.config.target.provider),
      o.signal,
    );
  }
  return result(true);
}

/**
 * Takes one worker out of the load balancer: its group leaves the ingress job, the other
 * workers' groups stay untouched. Its Traefik's ping answers 503 for the grace time while it still
 * serves, so the load balancer's health check stops sending it new requests and open ones finish;
 * returns once that allocation has stopped. False when the worker ran no Traefik.
 */
export async function removeIngressWorker(o: {
  nomad: NomadClient;
  worker: string;
  log: Log;
  signal?: AbortSignal;
  /** Bound on the wait for its Traefik to stop; default 2 minutes (grace + kill timeout). */
  timeoutMs?: number;
}): Promise<boolean> {
  const current = (await o.nomad.readJob(ingressJobName)) as (JobWithGroups & NomadJob) | undefined;
  const groups = (current?.TaskGroups ?? []).map((g) => g.Name);
  if (!current || !groups.includes(o.worker)) return false;
  const remaining = groups.filter((g) => g !== o.worker);
  if (remaining.length === 0)
    throw new ConflictError(
      `${o.worker} is the only worker running Traefik: taking it out would leave no ingress`,
      "add a worker first (scale --workers), then retire this one",
    );
  await register(o.nomad, stepJob(current, current, [], remaining) as NomadJob, current);
  o.log(`${o.worker}: out of the ingress job; waiting for its Traefik to finish serving`);
  const timeoutMs = o.timeoutMs ?? 120_000;
  let index = 0;
  return waitFor(
    {
      what: `Traefik on ${o.worker} to stop`,
      timeoutMs,
      intervalMs: 0,
      ...(o.signal ? { signal: o.signal } : {}),
      message: (t) =>
        `Traefik on ${o.worker} did not stop within ${t.seconds}s after its group left the ingress job`,
      hint: "read its allocation's events: nomad job status ingress",
    },
    async (_attempt, signal) => {
      const allocs = await o.nomad.jobAllocations(ingressJobName, {
        index,
        waitSeconds: 5,
        ...(signal ? { signal } : {}),
      });
      index = allocs.index;
      const serving = allocs.data.filter(
        (a) => a.TaskGroup === o.worker && ["running", "pending"].includes(a.ClientStatus),
      );
      return serving.length === 0 ? done(true) : notYet(`${serving.length} still serving`);
    },
  );
}

/** Registers at the index read (a concurrent change is refused), returns the new job version. */
async function register(
  nomad: NomadClient,
  job: NomadJob,
  read: NomadJob | undefined,
): Promise<number> {
  await nomad.registerJob(job, read?.JobModifyIndex ?? 0);
  return (await nomad.readJob(ingressJobName))?.Version ?? 0;
}

/** Waits for the worker's allocation at `minJobVersion` or later to run, then for its proof. */
async function waitForWorker(o: RollIngressOptions, worker: string, minJobVersion = 0) {
  const host = o.inventory.hosts.find((h) => h.name === worker)!;
  const timeoutMs = o.perWorkerDeadlineMs ?? 120_000;
  let index = 0;
  let polled = false;
  const detail = await waitFor(
    {
      what: `Traefik on ${worker} to run and answer`,
      timeoutMs,
      intervalMs: 0,
      ...(o.signal ? { signal: o.signal } : {}),
      message: (t) =>
        `Traefik on ${worker} did not run and answer within ${t.seconds}s (last: ${t.last})`,
    },
    async (_attempt, signal) => {
      // Running but not answering yet: look again in a second, not at once.
      if (polled) await sleep(1000, signal);
      polled = false;
      const allocs = await o.nomad.jobAllocations(ingressJobName, {
        index,
        waitSeconds: 5,
        ...(signal ? { signal } : {}),
      });
      index = allocs.index;
      const state = workerAllocState(allocs.data, worker, minJobVersion);
      if (state.kind === "failed") throw new OperationError(state.reason);
      if (state.kind !== "running") return notYet(state.detail);
      const proof = await proveWorkerTraefik(o.config, host);
      if (proof.ok) return done(proof.detail);
      polled = true;
      return notYet(proof.detail);
    },
  );
  o.log(`${worker}: ${detail}`);
}

async function proveAll(o: RollIngressOptions, workers: string[]): Promise<void> {
  for (const w of workers) await waitForWorker(o, w);
}
