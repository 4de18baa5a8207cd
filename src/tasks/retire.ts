/**
 * Taking hosts out of the cluster, the runbook as code. None of these destroys the machine: the
 * caller (scale, replace, bring-up) applies OpenTofu without the host afterwards.
 *   retireWorker:   out of the load balancer, ineligible, drained (its allocations healthy
 *                   elsewhere), then its agents leave.
 *   retireManager:  its Nomad and Consul servers leave gracefully; both raft configurations are
 *                   without it and autopilot healthy before it returns.
 *   forgetDeadHost: a host that is gone: its node purged, its raft peers removed, force-left.
 * Every wait is bounded and names what did not happen. The decisions are in plan/retire.ts.
 */
import type { LoadedConfig } from "../config/load.js";
import type { ConsulClient } from "../consul/client.js";
import { ConflictError, OperationError, UsageError } from "../errors.js";
import { done, notYet, waitFor, WaitTimeoutError } from "../wait.js";
import type { NomadClient } from "../nomad/client.js";
import type { AllocationStub, NomadJob } from "../nomad/types.js";
import {
  drainVerdict,
  groupsToReplace,
  isHostServer,
  managerRemovalRefusals,
  raftSettled,
  replacementsReady,
  type GroupToReplace,
} from "../plan/retire.js";
import { connectToHost, withManagers, type ClusterApis } from "../cluster/connect.js";
import {
  managersOf,
  type HostRole,
  type Inventory,
  type InventoryHost,
} from "../cluster/inventory.js";
import { removeIngressWorker } from "./ingress.js";

export interface RetireOptions {
  config: LoadedConfig;
  inventory: Inventory;
  /** The host's name, e.g. `production-worker-2`. */
  host: string;
  apis: ClusterApis;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** How long a worker's drain may take before Nomad stops what is left; default 3 minutes. */
  drainDeadlineMs?: number;
}

export interface RetireResult {
  host: string;
  /** What was done, in order, one line each. */
  steps: string[];
  durationMs: number;
}

const DEFAULT_DRAIN_DEADLINE_MS = 180_000;
/** Bound on each wait for Nomad or Consul to settle after a step. */
const SETTLE_MS = 120_000;

/**
 * Takes a worker out: out of the load balancer first (its ingress group removed, its Traefik
 * finishes serving), ineligible, `onBeforeDrain` (e.g. moving the package data away), drained
 * with a deadline until its service allocations run healthy elsewhere, then its Nomad client
 * stops and its node is purged, and its Consul agent leaves.
 */
export async function retireWorker(
  o: RetireOptions & {
    onBeforeDrain?: (worker: string, startDrain: () => void) => Promise<void>;
  },
): Promise<RetireResult> {
  const began = Date.now();
  const host = hostOf(o, "worker");
  const { nomad, consul } = o.apis;
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    o.log(`${host.name}: ${line}`);
  };

  if (await removeIngressWorker({ nomad, worker: host.name, log: o.log, ...signalOf(o) }))
    step("out of the load balancer (its Traefik stopped)");
  const node = (await nomad.nodes()).find((n) => n.Name === host.name);
  if (node) {
    await nomad.setNodeEligibility(node.ID, false);
    step("not eligible for new allocations");
    const before = o.onBeforeDrain;
    await drainBeside(
      o,
      nomad,
      consul,
      node.ID,
      host.name,
      before &&
        (async (startDrain) => {
          await before(host.name, startDrain);
          step("before-drain step done");
        }),
    );
    step("drained, its service allocations healthy elsewhere");
  } else step("no Nomad node by this name: nothing to drain");

  await onHost(o.config, host, o.signal, async (run) => {
    // Stopped before the purge, or the client would register the node again.
    // Nomad exits 1 on SIGINT without leaving: systemd marks the unit failed; that is expected.
    await run(
      "systemctl disable --now nomad; systemctl reset-failed nomad 2>/dev/null; ! systemctl is-active --quiet nomad",
      "stop Nomad's client",
    );
    step("Nomad client stopped");
    if (node) {
      await nomad.purgeNode(node.ID);
      step("Nomad node purged");
    }
    await consulLeave(o.config, run);
    step("Consul agent left");
  });
  await settle(o, `${host.name} to leave Consul's member list`, async () => {
    const member = (await consul.members()).find((m) => m.Name === host.name);
    // 3 is "left"; a pruned member is gone from the list.
    return { done: !member || member.Status === 3, detail: `status ${member?.Status}` };
  });
  return { host: host.name, steps, durationMs: Date.now() - began };
}

/**
 * drainWorker beside `first` (moving the package data off the worker): `first` gets the drain's
 * start, to call once what it moves has left the node; the drain begins when `first` ends at the
 * latest. Both are awaited, whichever fails (a failing `first` waits for a drain it began).
 */
export async function drainBeside(
  o: RetireOptions,
  nomad: NomadClient,
  consul: ConsulClient,
  nodeId: string,
  name: string,
  first?: (startDrain: () => void) => Promise<void>,
): Promise<void> {
  let draining: Promise<void> | undefined;
  const startDrain = () => {
    if (draining) return;
    draining = drainWorker(o, nomad, consul, nodeId, name);
    draining.catch(() => undefined); // awaited below
  };
  if (first)
    await first(startDrain).catch(async (error: unknown) => {
      await draining?.catch(() => undefined);
      throw error;
    });
  startDrain();
  await draining;
}

/** Drains with a deadline, then waits until what ran there runs healthy elsewhere. */
export async function drainWorker(
  o: RetireOptions,
  nomad: NomadClient,
  consul: ConsulClient,
  nodeId: string,
  name: string,
): Promise<void> {
  const before = (await nomad.nodeAllocations(nodeId)).data;
  const groups = groupsToReplace(before, await desiredCounts(nomad, before));
  const deadlineMs = o.drainDeadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS;
  await nomad.drainNode(nodeId, Math.ceil(deadlineMs / 1000));
  o.log(
    `${name}: draining (deadline ${Math.round(deadlineMs / 1000)}s)${groups.length ? `: ${groups.map((g) => `${g.job}/${g.group}`).join(", ")}` : ""}`,
  );
  // Progress: each new state of the drain said once, as it changes.
  let said = "";
  const progress = (detail: string) => {
    if (detail && detail !== said) o.log(`${name}: ${(said = detail)}`);
    return detail;
  };
  let index = 0;
  await settle(
    o,
    `the drain of ${name} to finish`,
    async () => {
      // Woken by each change of its allocations (a migration begun, one stopped); at most 2 s
      // apart for the node's own (Nomad clears the drain just after the last one stops).
      const allocs = await nomad.nodeAllocations(nodeId, { index, waitSeconds: 2, ...signalOf(o) });
      index = allocs.index;
      const node = await nomad.node(nodeId);
      const verdict = drainVerdict(node.data, allocs.data);
      if (verdict.kind === "failed") throw new OperationError(verdict.reason);
      const detail = "detail" in verdict ? verdict.detail : "";
      return { done: verdict.kind === "done", detail: progress(detail) };
    },
    deadlineMs + SETTLE_MS,
    0,
  );
  await settle(o, `${name}'s allocations to run healthy elsewhere`, async () => {
    const ready = await replacementsReadyNow(nomad, consul, groups, nodeId);
    return { done: ready.ready, detail: progress(ready.waiting.join("; ")) };
  });
}

/** The desired count of each group that had an allocation there, from its job. */
async function desiredCounts(
  nomad: NomadClient,
  allocs: AllocationStub[],
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const jobId of new Set(allocs.flatMap((a) => (a.JobID ? [a.JobID] : [])))) {
    const job = await nomad.readJob(jobId);
    for (const g of job?.TaskGroups ?? []) counts[`${jobId}/${g.Name}`] = g.Count;
  }
  return counts;
}

async function replacementsReadyNow(
  nomad: NomadClient,
  consul: ConsulClient,
  groups: GroupToReplace[],
  nodeId: string,
) {
  const allocations: AllocationStub[] = [];
  const passing = new Set<string>();
  for (const jobId of new Set(groups.map((g) => g.job))) {
    allocations.push(...(await nomad.jobAllocations(jobId)).data);
    for (const service of serviceNames(await nomad.readJob(jobId)))
      for (const instance of await consul.serviceHealth(service)) {
        const alloc = /^_nomad-task-([0-9a-f-]{36})-/.exec(instance.Service.ID)?.[1];
        if (alloc && instance.Checks.every((c) => c.Status === "passing")) passing.add(alloc);
      }
  }
  return replacementsReady(groups, allocations, nodeId, passing);
}

function serviceNames(job: NomadJob | undefined): string[] {
  type WithServices = { Services?: Array<{ Name: string }> | null };
  return (job?.TaskGroups ?? [])
    .flatMap((g) => [
      ...((g as WithServices).Services ?? []),
      ...(g.Tasks ?? []).flatMap((t) => (t as WithServices).Services ?? []),
    ])
    .map((s) => s.Name);
}

/**
 * Takes a manager out: refused when it would leave no voter or the servers are unhealthy now.
 * Its Nomad server leaves (SIGTERM: leave_on_terminate), then its Consul server (`consul leave`);
 * returns once both raft configurations are without it and both autopilots report healthy with
 * the voters that remain. Talks to the cluster through another manager throughout.
 */
export async function retireManager(o: RetireOptions): Promise<RetireResult> {
  const began = Date.now();
  const host = hostOf(o, "manager");
  const others = managersOf(o.inventory).filter((h) => h.name !== host.name);
  if (others.length === 0)
    throw new ConflictError(
      `${host.name} is the only manager: the cluster would have no Nomad or Consul server`,
      "add managers first (scale --managers 3), then retire this one",
    );
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    o.log(`${host.name}: ${line}`);
  };
  return withManagers(o.config, others, o.signal, async (apis) => {
    const [nomadRaft, nomadPilot, consulRaft, consulPilot] = await Promise.all([
      apis.nomad.raftConfiguration(),
      apis.nomad.autopilotHealth(),
      apis.consul.raftConfiguration(),
      apis.consul.autopilotHealth(),
    ]);
    const refusals = [
      ...managerRemovalRefusals({
        host,
        system: "Nomad",
        servers: nomadRaft.Servers,
        autopilotHealthy: nomadPilot.Healthy,
      }),
      ...managerRemovalRefusals({
        host,
        system: "Consul",
        servers: consulRaft.Servers,
        autopilotHealthy: consulPilot.Healthy,
      }),
    ];
    if (refusals.length > 0)
      throw new ConflictError(
        `${host.name} cannot leave now: ${refusals.join("; ")}`,
        "`elm-infra status --check` names what is unhealthy; fix that first (bring-up replaces dead hosts)",
      );
    const voters = (servers: typeof nomadRaft.Servers) =>
      servers.filter((s) => s.Voter && !isHostServer(s, host)).length;
    const expected = { nomad: voters(nomadRaft.Servers), consul: voters(consulRaft.Servers) };

    await onHost(o.config, host, o.signal, async (run) => {
      // SIGTERM makes the server leave (leave_on_terminate); systemd's own stop sends SIGINT,
      // which never leaves (a reboot must not shrink the quorum). The stop after it cancels
      // the restart systemd schedules if this agent predates leave_on_terminate.
      await run(
        "systemctl kill --kill-who=main --signal=SIGTERM nomad",
        "ask Nomad's server to leave",
      );
      await run(
        "for i in $(seq 1 60); do systemctl is-active --quiet nomad || break; sleep 1; done; systemctl disable --now nomad; systemctl reset-failed nomad 2>/dev/null; ! systemctl is-active --quiet nomad",
        "wait for Nomad's server to leave and stop",
      );
      step("Nomad server left and stopped");
      await consulLeave(o.config, run);
      step("Consul server left");
    });
    await removeIfStillPeer(o, apis.nomad, "Nomad", host, step);
    await removeIfStillPeer(o, apis.consul, "Consul", host, step);
    for (const [system, client] of [
      ["Nomad", apis.nomad],
      ["Consul", apis.consul],
    ] as const) {
      await settle(o, `${system}'s raft to settle without ${host.name}`, async () => {
        const [raft, pilot] = await Promise.all([
          client.raftConfiguration(),
          client.autopilotHealth(),
        ]);
        const view = raftSettled({
          host,
          system,
          servers: raft.Servers,
          expectedVoters: system === "Nomad" ? expected.nomad : expected.consul,
          autopilotHealthy: pilot.Healthy,
        });
        return { done: view.settled, detail: view.detail };
      });
      step(`${system}: ${system === "Nomad" ? expected.nomad : expected.consul} voter(s), healthy`);
    }
    return { host: host.name, steps, durationMs: Date.now() - began };
  });
}

/**
 * After a graceful leave the server is normally gone from raft already; one that is not after a
 * short wait (an agent without leave_on_terminate, a leave cut short) is removed by its ID.
 */
async function removeIfStillPeer(
  o: RetireOptions,
  client: Pick<NomadClient, "raftConfiguration" | "removeRaftPeer">,
  system: "Nomad" | "Consul",
  host: InventoryHost,
  step: (line: string) => void,
): Promise<void> {
  const servers = async () =>
    (await client.raftConfiguration()).Servers.filter((s) => isHostServer(s, host));
  const left = await waitFor(
    {
      what: `${host.name} to leave ${system}'s raft`,
      timeoutMs: 20_000,
      intervalMs: 1000,
      ...signalOf(o),
    },
    async () => ((await servers()).length === 0 ? done(true) : notYet("still a peer")),
  ).catch((error: unknown) => {
    if (error instanceof WaitTimeoutError) return false;
    throw error;
  });
  if (left) return;
  for (const s of await servers()) await client.removeRaftPeer(s.ID);
  step(`${system}: raft peer removed (it had not left by itself)`);
}

/**
 * Forgets a host that is gone (no SSH to it): purges its Nomad node, removes its Nomad and
 * Consul raft peers, force-leaves (and prunes) it from both gossip pools. Safe to run again.
 */
export async function forgetDeadHost(o: RetireOptions): Promise<RetireResult> {
  const began = Date.now();
  const host = o.inventory.hosts.find((h) => h.name === o.host) ?? {
    name: o.host,
    role: "worker" as HostRole,
    privateAddress: "",
    ssh: { host: "", port: 0 },
  };
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    o.log(`${host.name}: ${line}`);
  };
  const others = managersOf(o.inventory).filter((h) => h.name !== host.name);
  if (others.length === 0)
    throw new UsageError(
      `${host.name} is the only manager of the inventory: nothing remains to ask`,
    );
  return withManagers(o.config, others, o.signal, async (apis) => {
    for (const node of (await apis.nomad.nodes()).filter((n) => n.Name === host.name)) {
      await apis.nomad.purgeNode(node.ID);
      step(`Nomad node ${node.ID.slice(0, 8)} purged`);
    }
    for (const [system, client] of [
      ["Nomad", apis.nomad],
      ["Consul", apis.consul],
    ] as const) {
      for (const s of (await client.raftConfiguration()).Servers.filter((s) =>
        isHostServer(s, host),
      )) {
        await client.removeRaftPeer(s.ID);
        step(`${system} raft peer ${s.Node} removed`);
      }
    }
    for (const m of await apis.nomad.serverMembers())
      if (m.Name.startsWith(`${host.name}.`) && m.Status !== "left") {
        await apis.nomad.forceLeaveServer(m.Name);
        step(`Nomad server ${m.Name} force-left`);
      }
    const member = (await apis.consul.members()).find((m) => m.Name === host.name);
    if (member && member.Status !== 3) {
      await apis.consul.forceLeave(host.name);
      step("Consul member force-left and pruned");
    }
    if (host.role === "manager")
      for (const [system, client] of [
        ["Nomad", apis.nomad],
        ["Consul", apis.consul],
      ] as const)
        await settle(
          o,
          `${system}'s autopilot to report healthy without ${host.name}`,
          async () => {
            const pilot = await client.autopilotHealth();
            return { done: pilot.Healthy, detail: `failure tolerance ${pilot.FailureTolerance}` };
          },
        );
    if (steps.length === 0) step("already forgotten: nothing to do");
    return { host: host.name, steps, durationMs: Date.now() - began };
  });
}

export type RunOnHost = (command: string, what: string, stdin?: string) => Promise<string>;

/** One SSH connection to the host for the steps run on it; a failing command stops them. */
export async function onHost(
  config: LoadedConfig,
  host: InventoryHost,
  signal: AbortSignal | undefined,
  steps: (run: RunOnHost) => Promise<void>,
): Promise<void> {
  const ssh = await connectToHost(config, host, "require-pinned", signal);
  try {
    await steps(async (command, what, stdin) => {
      const r = await ssh.exec(command, { timeoutMs: 120_000, ...(stdin ? { stdin } : {}) });
      if (r.status !== 0)
        throw new OperationError(
          `on ${host.name}: could not ${what} (\`${command}\` exited ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-500)}`,
        );
      return r.stdout;
    });
  } finally {
    await ssh.close();
  }
}

/**
 * `consul leave` on the host: the agent leaves gracefully (a server hands its raft seat back)
 * and exits. The management token goes through stdin into the environment, never into argv.
 */
async function consulLeave(config: LoadedConfig, run: RunOnHost): Promise<void> {
  const token = config.secrets.consulToken;
  if (!token)
    throw new UsageError(
      "consul leave needs the Consul management token",
      "set ELM_INFRA_CONSUL_TOKEN or consulToken in secrets/<target>.yaml",
    );
  await run(
    "read -r CONSUL_HTTP_TOKEN && export CONSUL_HTTP_TOKEN && consul leave && systemctl disable --now consul",
    "make Consul's agent leave",
    `${token}\n`,
  );
}

function hostOf(o: RetireOptions, role: HostRole): InventoryHost {
  const host = o.inventory.hosts.find((h) => h.name === o.host);
  if (!host)
    throw new UsageError(
      `${o.host} is not a host of target '${o.config.targetName}'`,
      `its hosts: ${o.inventory.hosts.map((h) => h.name).join(", ")}`,
    );
  if (host.role !== role) throw new UsageError(`${o.host} is a ${host.role}, not a ${role}`);
  return host;
}

const signalOf = (o: { signal?: AbortSignal }) => (o.signal ? { signal: o.signal } : {});

/**
 * Polls `check` until done, at most `timeoutMs` (the shared waitFor): then fails naming what did
 * not happen and the last thing seen. `check` may itself block (a blocking query): then
 * `intervalMs` is 0.
 */
export function settle(
  o: { signal?: AbortSignal },
  what: string,
  check: () => Promise<{ done: boolean; detail: string }>,
  timeoutMs = SETTLE_MS,
  intervalMs = 1000,
): Promise<void> {
  return waitFor({ what, timeoutMs, intervalMs, ...signalOf(o) }, async () => {
    const seen = await check();
    return seen.done ? done(undefined) : notYet(seen.detail);
  });
}
