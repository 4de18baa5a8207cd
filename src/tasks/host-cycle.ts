/**
 * Taking one host out of service, doing something to it, and putting it back, proven: the
 * runbook `reboot` and `upgrade` share, one host at a time.
 *   cycleWorker:  out of the load balancer, ineligible, its package data moved off it when it
 *                 holds it, drained (its allocations healthy elsewhere; the drain begins once
 *                 the package site's own instances have left, beside the move), the action's
 *                 package upgrades when it has them (`reboot --upgrade-packages`: when they
 *                 fail the worker is put back in service), the action (a reboot, its agents
 *                 upgraded and restarted), then its drain ended, eligible, back in the load
 *                 balancer and its Traefik proven.
 *   cycleManager: refused while the others would lose quorum or autopilot is unhealthy; its
 *                 leadership handed to another server first; the package upgrades; the action;
 *                 back once both raft configurations count it as a voter and both autopilots
 *                 report healthy.
 * The actions' SSH commands are the same on a VM and on a host container (`systemctl reboot`:
 * a host container exits and Docker starts it again, as a VM's firmware boots it again).
 */
import type { LoadedConfig } from "../config/load.js";
import { ConflictError, OperationError } from "../errors.js";
import { connectToHost, withCluster, withManagers, type ClusterApis } from "../cluster/connect.js";
import {
  managersOf,
  probeUrl,
  workersOf,
  type Inventory,
  type InventoryHost,
} from "../cluster/inventory.js";
import { targetTrust } from "../cluster/trust.js";
import { hostnamesOf } from "../config/load.js";
import { startProbe } from "../traefik/probe.js";
import { bootIdentityCommand, managerRebootRefusals } from "../plan/reboot.js";
import { isHostServer } from "../plan/retire.js";
import { done, notYet, waitFor } from "../wait.js";
import {
  removeIngressWorker,
  rollIngress,
  runningIngressVersion,
  untilTraefikCatchesUp,
  traefikCaughtUp,
} from "./ingress.js";
import { describeMove, movePackageData } from "./package-data.js";
import { upgradeSecurityPackages } from "./package-upgrades.js";
import { describePackageChanges, type PackageChange } from "../plan/package-upgrades.js";
import { drainBeside, settle } from "./retire.js";

type Log = (line: string) => void;

export interface CycleOptions {
  config: LoadedConfig;
  inventory: Inventory;
  host: string;
  log: Log;
  signal: AbortSignal;
  /** A single manager's cycle was accepted: the APIs stop meanwhile. */
  apiOutageAccepted?: boolean;
  /** How long the host may take to come back with its agents; default 5 minutes. */
  bootDeadlineMs?: number;
  /**
   * The Traefik version a worker comes back at (`upgrade`: the new one, so each worker's Traefik
   * restarts once, not again in a rollout after the cycles); default: the one the ingress runs.
   */
  ingressVersion?: string;
}

/** What is done to a host while it is out of service. */
export interface HostAction {
  /** For messages: "reboot", "agents upgrade and restart". */
  name: string;
  /**
   * Packages upgraded first, once the host is out of service (`reboot --upgrade-packages`); when
   * it fails, the action is not done and a worker is put back in service. Returns what changed.
   */
  upgradePackages?(o: CycleOptions, host: InventoryHost): Promise<PackageChange[]>;
  /** Does it, and returns once the host is back with its agents up: what it was and is now. */
  run(o: CycleOptions, host: InventoryHost): Promise<{ before: string; after: string }>;
}

export interface HostCycled {
  host: string;
  role: "manager" | "worker";
  /** The action's before and after: boot identities for a reboot, agents' pids for a restart. */
  before: string;
  after: string;
  /** The package data moved off it first (it held it): where to, and the site's downtime. */
  packageDataMoved?: { to: string; downMs: number; readsServed: boolean };
  /** What its package upgrades changed (`reboot --upgrade-packages`: the security upgrades). */
  packages?: PackageChange[];
  steps: string[];
  durationMs: number;
}

const DEFAULT_BOOT_DEADLINE_MS = 300_000;
/** How long the load balancer may take to send requests to a worker back in the ingress. */
const LOAD_BALANCER_DEADLINE_MS = 120_000;

/** A worker out of service, `action`, and back, without a failed request: see the module's comment. */
export async function cycleWorker(o: CycleOptions, action: HostAction): Promise<HostCycled> {
  const began = Date.now();
  const host = hostNamed(o.inventory, o.host);
  const { steps, step } = stepsOf(o, host.name);
  let packageDataMoved: HostCycled["packageDataMoved"];
  let packages: PackageChange[] | undefined;
  // Through another worker's Traefik: this one's stops first.
  await withCluster(o.config, { avoid: [host.name], signal: o.signal }, async (apis) => {
    try {
      if (
        await removeIngressWorker({
          nomad: apis.nomad,
          worker: host.name,
          log: o.log,
          signal: o.signal,
        })
      )
        step("out of the load balancer (its Traefik stopped)");
      const node = (await apis.nomad.nodes()).find((n) => n.Name === host.name);
      if (!node) throw new OperationError(`${host.name} has no Nomad node: nothing to drain`);
      await apis.nomad.setNodeEligibility(node.ID, false);
      step("not eligible for new allocations");
      // The drain begins once the package site's own allocations have left it: the rest of a
      // move (the volume's and the site's start elsewhere) runs beside it.
      const holds = o.inventory.packageDataHost === host.name;
      const to = workersOf(o.inventory).find((w) => w.name !== host.name)?.name;
      if (holds && !to)
        step(
          `holds the package data and no other worker can take it: the site stops during the ${action.name}`,
        );
      await drainBeside(
        { ...options(o, apis), host: host.name },
        apis.nomad,
        apis.consul,
        node.ID,
        host.name,
        holds && to
          ? async (startDrain) => {
              const { downMs, readsServed } = await movePackageData({
                ...options(o, apis),
                from: host.name,
                to,
                onLeftFrom: startDrain,
              });
              packageDataMoved = { to, downMs, readsServed };
              step(`package data moved to ${to} (${describeMove(packageDataMoved)})`);
            }
          : undefined,
      );
      step("drained, its service allocations healthy elsewhere");
      packages = await upgradePackagesFirst(o, action, host, step);
    } catch (error) {
      // Not rebooted: it takes work and traffic again, and the error says what stopped it.
      o.log(`${host.name}: no ${action.name} done; putting it back in service`);
      await backInService(o, apis, host, step).catch((undo: unknown) =>
        o.log(`${host.name}: could not put it back: ${(undo as Error).message}`),
      );
      throw error;
    }
  });
  const { before, after } = await action.run(o, host);
  step(`${action.name} done, its agents up`);
  await withCluster(o.config, { signal: o.signal }, (apis) => backInService(o, apis, host, step));
  return {
    host: host.name,
    role: "worker",
    before,
    after,
    ...(packageDataMoved ? { packageDataMoved } : {}),
    ...(packages ? { packages } : {}),
    steps,
    durationMs: Date.now() - began,
  };
}

/** Its node ready, its drain ended and eligible, its Traefik back in the ingress and proven. */
async function backInService(
  o: CycleOptions,
  apis: ClusterApis,
  host: InventoryHost,
  step: (line: string) => void,
): Promise<void> {
  await settle(o, `${host.name}'s Nomad node to be ready`, async () => {
    const node = (await apis.nomad.nodes()).find((n) => n.Name === host.name);
    return { done: node?.Status === "ready", detail: `node ${node?.Status ?? "not registered"}` };
  });
  const node = (await apis.nomad.nodes()).find((n) => n.Name === host.name)!;
  await apis.nomad.endDrain(node.ID);
  step("eligible again");
  const running = await runningIngressVersion(apis.nomad);
  const rejoin = (version: string) =>
    rollIngress({
      config: o.config,
      inventory: o.inventory,
      nomad: apis.nomad,
      version,
      addOnly: true,
      log: o.log,
      signal: o.signal,
    });
  const version = o.ingressVersion ?? running;
  const ingress = await rejoin(version).catch(async (error: unknown) => {
    if (version === running) throw error;
    // The new version did not run and answer there: the worker goes back to the one the others
    // run, and the error stops the cycles (the hosts after it untouched).
    o.log(`${host.name}: Traefik ${version} did not run and answer: back at ${running}`);
    await removeIngressWorker({
      nomad: apis.nomad,
      worker: host.name,
      log: o.log,
      signal: o.signal,
    });
    await rejoin(running);
    throw new OperationError(
      `${host.name}'s Traefik ${version} did not run and answer (${(error as Error).message}); it runs ${running} again`,
      "read the allocation's events: nomad job status ingress, or elm-infra status",
      { cause: error },
    );
  });
  step(`back in the ingress (${ingress.steps.join("; ") || "its Traefik answers"})`);
  // The next host's cycle takes another worker out: this one must carry requests first.
  const answered = await untilLoadBalancerUses(o, apis, host.name);
  if (answered) step(`the load balancer sends it requests again (${answered})`);
  step(
    traefikCaughtUp(
      await untilTraefikCatchesUp(o.config, o.inventory, apis.consul, { signal: o.signal }),
    ),
  );
}

/**
 * Sends requests through the load balancer, as visitors do, until one is answered by this
 * worker's Traefik (its header says which); bounded. Returns the hostname that answered, or
 * nothing when no service is deployed (nothing to ask).
 */
async function untilLoadBalancerUses(
  o: CycleOptions,
  apis: ClusterApis,
  worker: string,
): Promise<string | undefined> {
  const url = probeUrl(o.config, o.inventory);
  let hostname: string | undefined;
  for (const service of Object.keys(o.config.services))
    if (await apis.nomad.readJob(service)) {
      hostname = hostnamesOf(o.config, service)[0];
      if (hostname) break;
    }
  if (!url || !hostname) return undefined;
  const trust = url.startsWith("https:") ? await targetTrust(o.config) : undefined;
  let seen: Record<string, number> = {};
  let resolveSeen: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (resolveSeen = resolve));
  const probe = startProbe({
    url,
    hostname,
    ...(trust?.ca !== undefined ? { ca: trust.ca } : {}),
    ratePerSecond: 10,
    seconds: LOAD_BALANCER_DEADLINE_MS / 1000,
    signal: o.signal,
    progressEveryMs: 500,
    onProgress: (r) => {
      seen = r.workers;
      if ((r.workers[worker] ?? 0) > 0) resolveSeen();
    },
  });
  await Promise.race([answered, probe.done]);
  await probe.stop();
  if ((seen[worker] ?? 0) === 0)
    throw new OperationError(
      `the load balancer sent no request to ${worker} within ${LOAD_BALANCER_DEADLINE_MS / 1000} s of its Traefik answering (answers came from: ${Object.keys(seen).join(", ") || "none"})`,
      "check the load balancer's health check of the workers (elm-infra status shows it); the next hosts were not touched",
    );
  return hostname;
}

/** A manager's `action` while the others keep quorum: see the module's comment. */
export async function cycleManager(o: CycleOptions, action: HostAction): Promise<HostCycled> {
  const began = Date.now();
  const host = hostNamed(o.inventory, o.host);
  const { steps, step } = stepsOf(o, host.name);
  const others = managersOf(o.inventory).filter((h) => h.name !== host.name);
  const through = (work: (apis: Pick<ClusterApis, "nomad" | "consul">) => Promise<void>) =>
    others.length > 0
      ? withManagers(o.config, others, o.signal, work)
      : withCluster(o.config, { signal: o.signal }, work);
  let voters = { Nomad: 1, Consul: 1 };
  await through(async (apis) => {
    const systems = [
      ["Nomad", apis.nomad],
      ["Consul", apis.consul],
    ] as const;
    const refusals: string[] = [];
    for (const [system, client] of systems) {
      const [raft, pilot] = await Promise.all([
        client.raftConfiguration(),
        client.autopilotHealth(),
      ]);
      voters = { ...voters, [system]: raft.Servers.filter((s) => s.Voter).length };
      refusals.push(
        ...managerRebootRefusals({
          host,
          system,
          servers: raft.Servers,
          autopilotHealthy: pilot.Healthy,
          apiOutageAccepted: o.apiOutageAccepted === true,
        }),
      );
    }
    if (refusals.length > 0)
      throw new ConflictError(
        `${host.name} cannot go out of service now (${action.name}): ${refusals.join("; ")}`,
        "`elm-infra status --check` names what is unhealthy; bring it back first (bring-up replaces dead hosts)",
      );
    for (const [system, client] of systems) {
      const raft = await client.raftConfiguration();
      const leads = raft.Servers.find((s) => s.Leader && isHostServer(s, host));
      const heir = raft.Servers.find((s) => s.Voter && !isHostServer(s, host));
      if (!leads || !heir) continue;
      await client.transferLeadership(heir.ID);
      await settle(o, `${system}'s leadership to leave ${host.name}`, async () => {
        const now = (await client.raftConfiguration()).Servers.find((s) => s.Leader);
        return { done: !!now && !isHostServer(now, host), detail: `leader ${now?.Node ?? "none"}` };
      });
      step(`${system}'s leadership handed to ${heir.Node}`);
    }
  });
  const packages = await upgradePackagesFirst(o, action, host, step);
  if (others.length === 0)
    step("the only manager: Nomad's and Consul's APIs stop until it is back");
  const { before, after } = await action.run(o, host);
  step(`${action.name} done, its agents up`);
  await through(async (apis) => {
    for (const [system, client] of [
      ["Nomad", apis.nomad],
      ["Consul", apis.consul],
    ] as const)
      await settle(o, `${system}'s raft to count ${host.name} again`, async () => {
        const [raft, pilot] = await Promise.all([
          client.raftConfiguration(),
          client.autopilotHealth(),
        ]);
        const back = raft.Servers.some((s) => s.Voter && isHostServer(s, host));
        const count = raft.Servers.filter((s) => s.Voter).length;
        const leader = raft.Servers.some((s) => s.Leader);
        return {
          done: back && leader && pilot.Healthy && count === voters[system],
          detail: `${count} of ${voters[system]} voters${back ? "" : `, ${host.name} not among them`}${leader ? "" : ", no leader"}, autopilot ${pilot.Healthy ? "healthy" : "unhealthy"}`,
        };
      });
    step("a voter of Nomad's and Consul's raft again, autopilot healthy");
    // Traefik's Consul provider backs off while the servers are away: nothing moves until every
    // worker's Traefik reads the catalog again and routes as it says (the next host's drain, the
    // respread).
    step(
      traefikCaughtUp(
        await untilTraefikCatchesUp(o.config, o.inventory, apis.consul, {
          signal: o.signal,
          serversWereAway: true,
        }),
        true,
      ),
    );
  });
  return {
    host: host.name,
    role: "manager",
    before,
    after,
    ...(packages ? { packages } : {}),
    steps,
    durationMs: Date.now() - began,
  };
}

/** The action's package upgrades, when it has them, logged as a step. */
async function upgradePackagesFirst(
  o: CycleOptions,
  action: HostAction,
  host: InventoryHost,
  step: (line: string) => void,
): Promise<PackageChange[] | undefined> {
  if (!action.upgradePackages) return undefined;
  const packages = await action.upgradePackages(o, host);
  step(`security upgrades: ${describePackageChanges(packages)}`);
  return packages;
}

/**
 * The reboot: `systemctl reboot`, then the host back from a new boot with its agents up. With
 * `upgradePackages`, Debian's security upgrades first (tasks/package-upgrades.ts).
 */
export function rebootAction(flags: { upgradePackages: boolean }): HostAction {
  return {
    name: "reboot",
    ...(flags.upgradePackages
      ? { upgradePackages: (o, host) => upgradeSecurityPackages(o.config, host, o.signal) }
      : {}),
    async run(o, host) {
      const before = await rebootOverSsh(o.config, host, o.signal);
      o.log(`${host.name}: rebooting`);
      return { before, after: await waitForAgents(o, host, { bootOtherThan: before }) };
    },
  };
}

const agentNames = ["consul", "nomad"] as const;

/**
 * The agents upgraded and restarted: `install` puts the pinned Consul and Nomad on the host (an
 * agent whose package changed is restarted by it); each agent it did not restart is restarted
 * here (Consul before Nomad), so every agent runs anew once. Before and after: their pids.
 */
export function agentsAction(install: (host: InventoryHost) => Promise<void>): HostAction {
  return {
    name: "agents upgrade and restart",
    async run(o, host) {
      const before = await agentPids(o, host);
      await install(host);
      const now = await agentPids(o, host);
      const same = agentNames.filter((a) => now[a] === before[a]);
      if (same.length > 0) {
        await onHostOnce(o, host, (ssh) =>
          mustRun(
            ssh,
            host,
            `systemctl restart ${same.join(" ")}`,
            `restart ${same.join(" and ")}`,
          ),
        );
        o.log(`${host.name}: ${same.join(" and ")} restarted`);
      }
      await waitForAgents(o, host, {});
      const after = await agentPids(o, host);
      const kept = agentNames.filter((a) => after[a] === before[a]);
      if (kept.length > 0)
        throw new OperationError(`on ${host.name}: ${kept.join(" and ")} did not restart`);
      const line = (p: Record<string, string>) => agentNames.map((a) => `${a} ${p[a]}`).join(", ");
      return { before: line(before), after: line(after) };
    },
  };
}

/** Each agent's main pid on the host, as systemd reports it ("0": not running). */
async function agentPids(o: CycleOptions, host: InventoryHost): Promise<Record<string, string>> {
  const out = await onHostOnce(o, host, (ssh) =>
    mustRun(
      ssh,
      host,
      `systemctl show -p MainPID --value ${agentNames.join(" ")}`,
      "read the agents' pids",
    ),
  );
  // systemctl prints a blank line between units.
  const pids = out.split("\n").filter((l) => l.trim() !== "");
  return Object.fromEntries(agentNames.map((a, i) => [a, pids[i]?.trim() ?? ""]));
}

async function onHostOnce<T>(
  o: CycleOptions,
  host: InventoryHost,
  work: (ssh: Awaited<ReturnType<typeof connectToHost>>) => Promise<T>,
): Promise<T> {
  const ssh = await connectToHost(o.config, host, "require-pinned", o.signal);
  try {
    return await work(ssh);
  } finally {
    await ssh.close();
  }
}

/** Whether each host asks for a reboot (`/run/reboot-required`, written by package upgrades). */
export async function hostsNeedingReboot(
  config: LoadedConfig,
  inventory: Inventory,
  signal: AbortSignal,
): Promise<Set<string>> {
  const needing = new Set<string>();
  for (const host of inventory.hosts) {
    const ssh = await connectToHost(config, host, "require-pinned", signal);
    try {
      const r = await ssh.exec("test -e /run/reboot-required", { timeoutMs: 30_000 });
      if (r.status === 0) needing.add(host.name);
    } finally {
      await ssh.close();
    }
  }
  return needing;
}

/**
 * The boot's identity, then the reboot asked for a second later (so the command returns before
 * sshd stops). Returns the identity of the boot that ends.
 */
async function rebootOverSsh(
  config: LoadedConfig,
  host: InventoryHost,
  signal: AbortSignal,
): Promise<string> {
  const ssh = await connectToHost(config, host, "require-pinned", signal);
  try {
    const boot = await mustRun(ssh, host, bootIdentityCommand, "read the boot's identity");
    await mustRun(
      ssh,
      host,
      "systemd-run --quiet --on-active=1 --timer-property=AccuracySec=100ms --unit=elm-infra-reboot systemctl reboot",
      "ask for a reboot",
    );
    return boot.trim();
  } finally {
    await ssh.close();
  }
}

/**
 * Waits until the host answers over SSH (from a boot other than `bootOtherThan`, when given)
 * with its agents up: systemd's units active, Nomad's agent healthy, Consul's agent in a cluster
 * with a leader. Returns the boot's identity.
 */
async function waitForAgents(
  o: CycleOptions,
  host: InventoryHost,
  w: { bootOtherThan?: string },
): Promise<string> {
  const units = host.role === "worker" ? "docker consul nomad" : "consul nomad";
  const agent = host.role === "worker" ? "client" : "server";
  const agentsUp = [
    `systemctl is-active --quiet ${units}`,
    `curl -fsS -m 3 -o /dev/null 'http://127.0.0.1:4646/v1/agent/health?type=${agent}'`,
    `curl -fsS -m 3 http://127.0.0.1:8500/v1/status/leader | grep -q ':'`,
  ].join(" && ");
  return waitFor(
    {
      what: `${host.name} to ${w.bootOtherThan ? "boot again" : "run"} with its agents up`,
      timeoutMs: o.bootDeadlineMs ?? DEFAULT_BOOT_DEADLINE_MS,
      intervalMs: 1000,
      signal: o.signal,
      hint: `look at ${host.name}'s console (\`docker logs ${host.name}\` on the local target) and its agents' journals; elm-infra status shows what is down`,
    },
    async (_attempt, signal) => {
      const ssh = await connectToHost(o.config, host, "require-pinned", signal).catch(
        (error: unknown) => error as Error,
      );
      if (ssh instanceof Error) return notYet(`no SSH yet (${ssh.message.split("\n")[0]})`);
      try {
        const boot = (await ssh.exec(bootIdentityCommand, { timeoutMs: 10_000 })).stdout.trim();
        if (!boot || boot === w.bootOtherThan) return notYet("still the boot before the reboot");
        const up = await ssh.exec(agentsUp, { timeoutMs: 15_000 });
        return up.status === 0 ? done(boot) : notYet("its agents are not all up yet");
      } catch (error) {
        return notYet(`SSH failed: ${(error as Error).message.split("\n")[0]}`);
      } finally {
        await ssh.close().catch(() => undefined);
      }
    },
  );
}

async function mustRun(
  ssh: Awaited<ReturnType<typeof connectToHost>>,
  host: InventoryHost,
  command: string,
  what: string,
): Promise<string> {
  const r = await ssh.exec(command, { timeoutMs: 30_000 });
  if (r.status !== 0)
    throw new OperationError(
      `on ${host.name}: could not ${what} (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-300)}`,
    );
  return r.stdout;
}

function hostNamed(inventory: Inventory, name: string): InventoryHost {
  const host = inventory.hosts.find((h) => h.name === name);
  if (!host) throw new OperationError(`${name} is not in the inventory of the target`);
  return host;
}

function stepsOf(o: { log: Log }, name: string) {
  const steps: string[] = [];
  return {
    steps,
    step: (line: string) => {
      steps.push(line);
      o.log(`${name}: ${line}`);
    },
  };
}

const options = (o: CycleOptions, apis: ClusterApis) => ({
  config: o.config,
  inventory: o.inventory,
  apis,
  log: o.log,
  signal: o.signal,
});
