import type { LoadedConfig } from "../config/load.js";
import type { Target } from "../config/schema.js";
import { ConsulClient } from "../consul/client.js";
import { ConfigError } from "../errors.js";
import type { TlsTrust } from "../http.js";
import { NomadClient } from "../nomad/client.js";
import {
  connectSsh,
  HostKeyMismatchError,
  SshConnectError,
  type HostKeyPolicy,
  type SshConnection,
} from "../ssh/index.js";
import { canaryEntrypointPort } from "../traefik/canary.js";
import { TraefikClient } from "../traefik/client.js";
import {
  managersOf,
  readInventory,
  workersOf,
  type HostRole,
  type InventoryHost,
} from "./inventory.js";
import { servesHttps } from "../plan/tls.js";
import { targetPaths } from "./paths.js";
import { targetTrust } from "./trust.js";

export interface ClusterApis {
  nomad: NomadClient;
  consul: ConsulClient;
  traefik: TraefikClient;
  close(): Promise<void>;
}

/** Where the APIs answer on this machine: the local dev agents' URLs or the tunnels' ports. */
interface ApiUrls {
  nomad: string;
  consul: string;
  traefikApi: string;
  entrypoint: string;
  canaryEntrypoint: string;
}

/** The tunnels' URLs, and how the public entrypoint's certificates are verified (HTTPS targets). */
interface TunnelledUrls extends ApiUrls {
  entrypointTls?: TlsTrust;
}

export interface ConnectOptions {
  onNomadRequest?: (method: string, path: string) => void;
  /** Hosts not to tunnel through (one being retired), unless no other of its role is left. */
  avoid?: readonly string[];
  /** The command's: Ctrl-C abandons a connect in progress at once (exit 130). */
  signal?: AbortSignal;
}

/**
 * Where the remote APIs listen, each on its host's loopback only: Nomad and Consul on every
 * manager, Traefik's API, entrypoint and canary entrypoint on every worker.
 */
export const remoteApiPorts = {
  nomad: 4646,
  consul: 8500,
  traefikApi: 8081,
  entrypoint: 80,
  /** Traefik's `websecure` entrypoint on each worker (what the load balancer passes 443 to). */
  websecure: 443,
  /** Traefik's canary entrypoint on each worker's loopback: the canary routers, never public. */
  canaryEntrypoint: canaryEntrypointPort,
  /** Traefik's ping entrypoint on each worker: what the load balancer health-checks. */
  traefikPing: 8082,
};

/**
 * The cluster's APIs. On this machine (the local dev agents) they answer on loopback; a remote
 * cluster is reached through SSH tunnels, never through a public port: Nomad and Consul through
 * the first manager that answers, Traefik through the first worker that answers (its API is
 * bound to each worker's loopback, so a manager cannot reach it).
 */
export async function connectToCluster(
  config: LoadedConfig,
  extra: ConnectOptions = {},
): Promise<ClusterApis> {
  const { target, targetName } = config;
  if (target.endpoints) return clientsFor(config, target.endpoints, async () => undefined, extra);
  const inventory = await readInventory(config);
  if (!inventory) {
    throw new ConfigError(
      [
        {
          file: config.file,
          path: `targets.${targetName}`,
          message:
            "has neither `hosts` (to reach the cluster over SSH) nor `endpoints`, and bring-up has not recorded any host",
        },
      ],
      `add targets.${targetName}.hosts with the managers' and workers' addresses, or run bring-up: elm-infra bring-up --target ${targetName}`,
    );
  }
  const workers = workersOf(inventory);
  if (workers.length === 0) {
    throw new ConfigError(
      [
        {
          file: config.file,
          path: `targets.${targetName}.hosts.workers`,
          message: "lists no worker; Traefik's API and entrypoint are reached on a worker",
        },
      ],
      `add the workers' addresses to targets.${targetName}.hosts.workers, or run bring-up`,
    );
  }
  const opened: SshConnection[] = [];
  const closeAll = async () => {
    for (const ssh of opened.reverse()) await ssh.close();
  };
  try {
    const manager = await connectToFirstThatAnswers(
      config,
      preferring(managersOf(inventory), extra.avoid),
      "manager",
      extra.signal,
    );
    opened.push(manager.ssh);
    const worker = await connectToFirstThatAnswers(
      config,
      preferring(workers, extra.avoid),
      "worker",
      extra.signal,
    );
    opened.push(worker.ssh);
    const https = servesHttps(target);
    const urls = await openTunnels(
      manager.ssh,
      worker.ssh,
      https ? await targetTrust(config) : undefined,
    );
    const entrypointPort = https ? remoteApiPorts.websecure : remoteApiPorts.entrypoint;
    return clientsFor(config, urls, closeAll, extra, {
      nomad: `127.0.0.1:${remoteApiPorts.nomad} on ${manager.host.name} (through SSH)`,
      consul: `127.0.0.1:${remoteApiPorts.consul} on ${manager.host.name} (through SSH)`,
      traefikApi: `127.0.0.1:${remoteApiPorts.traefikApi} on ${worker.host.name} (through SSH)`,
      entrypoint: `127.0.0.1:${entrypointPort} on ${worker.host.name} (through SSH)`,
      canaryEntrypoint: `127.0.0.1:${remoteApiPorts.canaryEntrypoint} on ${worker.host.name} (through SSH)`,
    });
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The hosts not avoided first, then the avoided ones as a last resort. */
function preferring(hosts: InventoryHost[], avoid: readonly string[] = []): InventoryHost[] {
  const avoided = (h: InventoryHost) => avoid.includes(h.name);
  return [...hosts.filter((h) => !avoided(h)), ...hosts.filter(avoided)];
}

/**
 * Tries the hosts in order; the first SSH connection made wins. A changed host key stops the
 * search at once: it is a refusal, not an outage, and the next host must not quietly stand in.
 * So does Ctrl-C (the abort reason is no SshConnectError).
 */
async function connectToFirstThatAnswers(
  config: LoadedConfig,
  hosts: InventoryHost[],
  role: HostRole,
  signal: AbortSignal | undefined,
): Promise<{ ssh: SshConnection; host: InventoryHost }> {
  const failures: string[] = [];
  for (const host of hosts) {
    try {
      return { ssh: await connectToHost(config, host, "pin-on-first-contact", signal), host };
    } catch (error) {
      if (error instanceof HostKeyMismatchError || !(error instanceof SshConnectError)) throw error;
      failures.push(`${host.name}: ${error.message}`);
    }
  }
  throw new SshConnectError(
    `no ${role} of target '${config.targetName}' answered over SSH:\n  ${failures.join("\n  ")}`,
    `check that the ${role}s are up and that bring-up's inventory (or targets.${config.targetName}.hosts) lists them`,
  );
}

export function sshTargetFor(
  config: Pick<LoadedConfig, "root" | "target" | "targetName" | "sshKeyFile">,
  host: string,
  port?: number,
) {
  const ssh: Target["ssh"] = config.target.ssh;
  const paths = targetPaths(config);
  return {
    host,
    port: port ?? ssh.port,
    username: ssh.user,
    privateKeyPath: paths.privateKey,
    knownHostsPath: paths.knownHosts,
    hostKeyPolicy: "pin-on-first-contact" as HostKeyPolicy,
  };
}

/**
 * Local loopback ports to Nomad and Consul on a manager's loopback, Traefik on a worker's. With
 * `https` (a target that serves HTTPS) the public entrypoint is the worker's 443, spoken over TLS
 * and verified against the target's CAs; the canary entrypoint stays plain HTTP on loopback.
 */
async function openTunnels(
  manager: SshConnection,
  worker: SshConnection,
  https: TlsTrust | undefined,
): Promise<TunnelledUrls> {
  return {
    nomad: await tunnelUrl(manager, remoteApiPorts.nomad),
    consul: await tunnelUrl(manager, remoteApiPorts.consul),
    traefikApi: await tunnelUrl(worker, remoteApiPorts.traefikApi),
    entrypoint: https
      ? await tunnelUrl(worker, remoteApiPorts.websecure, "https")
      : await tunnelUrl(worker, remoteApiPorts.entrypoint),
    canaryEntrypoint: await tunnelUrl(worker, remoteApiPorts.canaryEntrypoint),
    ...(https ? { entrypointTls: https } : {}),
  };
}

/** `http://127.0.0.1:<local port>` (or https) reaching `port` on the SSH server's own loopback. */
export async function tunnelUrl(
  ssh: SshConnection,
  port: number,
  scheme: "http" | "https" = "http",
): Promise<string> {
  return `${scheme}://127.0.0.1:${(await ssh.forwardLocalPort("127.0.0.1", port)).localPort}`;
}

/**
 * An SSH connection to one host of the inventory. `require-pinned` refuses a host whose key was
 * not pinned (bring-up pins each host it creates); the default trusts an unknown host once.
 * `signal` (the command's) abandons the connect at once on Ctrl-C.
 */
export function connectToHost(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
  host: InventoryHost,
  policy: HostKeyPolicy = "pin-on-first-contact",
  signal?: AbortSignal,
): Promise<SshConnection> {
  return connectSsh({
    ...sshTargetFor(config, host.ssh.host, host.ssh.port),
    hostKeyPolicy: policy,
    ...(signal ? { signal } : {}),
  });
}

/** Nomad and Consul of the managers, through one of `managers`: the first that answers. */
export interface ManagerApis {
  nomad: NomadClient;
  consul: ConsulClient;
  /** The manager the tunnels go through. */
  via: string;
  close(): Promise<void>;
}

/**
 * Nomad and Consul through the first of `managers` whose SSH, Nomad and Consul all answer: for
 * work that must not go through a particular manager (the one leaving), and that must not stop at
 * a manager whose agents have already left while its sshd still answers.
 */
export async function connectToManagers(
  config: LoadedConfig,
  managers: InventoryHost[],
  signal?: AbortSignal,
): Promise<ManagerApis> {
  const failures: string[] = [];
  for (const host of managers) {
    let ssh: SshConnection;
    try {
      ssh = await connectToHost(config, host, "pin-on-first-contact", signal);
    } catch (error) {
      if (error instanceof HostKeyMismatchError || !(error instanceof SshConnectError)) throw error;
      failures.push(`${host.name}: ${error.message}`);
      continue;
    }
    try {
      const clients = await agentClientsOn(config, host, ssh);
      await clients.nomad.leader();
      await clients.consul.leader();
      return { ...clients, via: host.name, close: () => ssh.close() };
    } catch (error) {
      await ssh.close();
      failures.push(`${host.name}: ${(error as Error).message}`);
    }
  }
  throw new SshConnectError(
    `no manager of target '${config.targetName}' answered with Nomad and Consul:\n  ${failures.join("\n  ")}`,
    "check that the managers are up: elm-infra status",
  );
}

/** Clients of the Consul and Nomad agents on `host`'s loopback, through its SSH connection. */
async function agentClientsOn(
  config: LoadedConfig,
  host: InventoryHost,
  ssh: SshConnection,
): Promise<{ nomad: NomadClient; consul: ConsulClient }> {
  const where = (port: number) => `127.0.0.1:${port} on ${host.name} (through SSH)`;
  return managerClients(
    config,
    {
      nomad: await tunnelUrl(ssh, remoteApiPorts.nomad),
      consul: await tunnelUrl(ssh, remoteApiPorts.consul),
    },
    {},
    { nomad: where(remoteApiPorts.nomad), consul: where(remoteApiPorts.consul) },
  );
}

function managerClients(
  config: LoadedConfig,
  urls: Pick<ApiUrls, "nomad" | "consul">,
  extra: ConnectOptions,
  where?: Pick<ApiUrls, "nomad" | "consul">,
): { nomad: NomadClient; consul: ConsulClient } {
  return {
    nomad: new NomadClient({
      address: urls.nomad,
      ...(where ? { where: where.nomad } : {}),
      ...(config.secrets.nomadToken ? { token: config.secrets.nomadToken } : {}),
      ...(extra.onNomadRequest ? { onRequest: extra.onNomadRequest } : {}),
    }),
    consul: new ConsulClient({
      address: urls.consul,
      ...(where ? { where: where.consul } : {}),
      ...(config.secrets.consulToken ? { token: config.secrets.consulToken } : {}),
    }),
  };
}

function clientsFor(
  config: LoadedConfig,
  urls: TunnelledUrls,
  close: () => Promise<void>,
  extra: ConnectOptions,
  where?: ApiUrls,
): ClusterApis {
  return {
    ...managerClients(config, urls, extra, where),
    traefik: new TraefikClient({
      api: urls.traefikApi,
      entrypoint: urls.entrypoint,
      ...(urls.entrypointTls ? { entrypointTls: urls.entrypointTls } : {}),
      canaryEntrypoint: urls.canaryEntrypoint,
      ...(where
        ? {
            where: {
              api: where.traefikApi,
              entrypoint: where.entrypoint,
              canaryEntrypoint: where.canaryEntrypoint,
            },
          }
        : {}),
    }),
    close,
  };
}

/**
 * The one way to use a target's APIs: connects (connectToCluster), runs `work`, and closes the
 * tunnels afterwards whatever happened. A new use calls this, never connectToCluster and close.
 * The command's signal is required: a connect to a host that never answers ends on Ctrl-C.
 */
export function withCluster<T>(
  config: LoadedConfig,
  options: ConnectOptions & { signal: AbortSignal },
  work: (apis: ClusterApis) => Promise<T>,
): Promise<T> {
  return closingAfter(connectToCluster(config, options), work);
}

/** connectToManagers, `work`, and the tunnels closed afterwards whatever happened. */
export function withManagers<T>(
  config: LoadedConfig,
  managers: InventoryHost[],
  signal: AbortSignal | undefined,
  work: (apis: ManagerApis) => Promise<T>,
): Promise<T> {
  return closingAfter(connectToManagers(config, managers, signal), work);
}

/**
 * One host's own Consul and Nomad agents (each on that host's loopback, through its SSH), with
 * the management tokens: for what is set per agent (Consul's agent token) or asked of one agent.
 */
export function withHostAgents<T>(
  config: LoadedConfig,
  host: InventoryHost,
  signal: AbortSignal | undefined,
  work: (apis: Omit<ManagerApis, "close">) => Promise<T>,
): Promise<T> {
  const opening = (async (): Promise<ManagerApis> => {
    const ssh = await connectToHost(config, host, "require-pinned", signal);
    try {
      const clients = await agentClientsOn(config, host, ssh);
      return { ...clients, via: host.name, close: () => ssh.close() };
    } catch (error) {
      await ssh.close();
      throw error;
    }
  })();
  return closingAfter(opening, work);
}

/** An SSH connection to `host` (its key pinned), `work`, and the connection closed whatever happened. */
export function withHostSsh<T>(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
  host: InventoryHost,
  signal: AbortSignal | undefined,
  work: (ssh: SshConnection) => Promise<T>,
): Promise<T> {
  return closingAfter(connectToHost(config, host, "require-pinned", signal), work);
}

async function closingAfter<A extends { close(): Promise<void> }, T>(
  opening: Promise<A>,
  work: (apis: A) => Promise<T>,
): Promise<T> {
  const apis = await opening;
  try {
    return await work(apis);
  } finally {
    await apis.close();
  }
}
