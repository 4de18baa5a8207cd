import type { LoadedConfig } from "../config/load.js";
import type { Target } from "../config/schema.js";
import { ConsulClient } from "../consul/client.js";
import { ConfigError } from "../errors.js";
import { NomadClient } from "../nomad/client.js";
import {
  connectSsh,
  HostKeyMismatchError,
  SshConnectError,
  type HostKeyPolicy,
  type SshConnection,
} from "../ssh/index.js";
import { TraefikClient } from "../traefik/client.js";
import { managersOf, readInventory, workersOf, type InventoryHost } from "./inventory.js";
import { targetPaths } from "./paths.js";

export interface ClusterApis {
  nomad: NomadClient;
  consul: ConsulClient;
  traefik: TraefikClient;
  close(): Promise<void>;
}

/** Where the APIs answer on this machine: the local dev agents' URLs or the tunnel's ports. */
interface ApiUrls {
  nomad: string;
  consul: string;
  traefikApi: string;
  entrypoint: string;
}

export interface ConnectOptions {
  onNomadRequest?: (method: string, path: string) => void;
}

/** Where the remote APIs listen, as seen from a manager: Nomad and Consul on its loopback only. */
export const remoteApiPorts = {
  nomad: 4646,
  consul: 8500,
  traefikApi: 8081,
  entrypoint: 80,
  traefikPing: 8082,
};

/**
 * The cluster's APIs. On this machine (the local dev agents) they answer on loopback; a remote
 * cluster is reached through an SSH tunnel to a manager, never through a public port.
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
  const worker = workersOf(inventory)[0];
  if (worker === undefined) {
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
  const ssh = await connectToFirstManager(config, managersOf(inventory));
  let workerSsh: SshConnection | undefined;
  try {
    // Traefik's API answers on each worker's loopback only: tunnel through the worker itself.
    workerSsh = await connectSsh(sshTargetFor(config, worker.ssh.host, worker.ssh.port));
    const urls = await openTunnels(ssh, workerSsh);
    const both = workerSsh;
    return clientsFor(
      config,
      urls,
      async () => {
        await Promise.all([ssh.close(), both.close()]);
      },
      extra,
    );
  } catch (error) {
    await Promise.all([ssh.close(), workerSsh?.close()]);
    throw error;
  }
}

/**
 * Tries the managers in order. A changed host key stops the search at once: it is a refusal,
 * not an outage, and the next manager must not quietly stand in.
 */
async function connectToFirstManager(
  config: LoadedConfig,
  managers: InventoryHost[],
): Promise<SshConnection> {
  const failures: string[] = [];
  for (const host of managers) {
    try {
      return await connectSsh(sshTargetFor(config, host.ssh.host, host.ssh.port));
    } catch (error) {
      if (error instanceof HostKeyMismatchError || !(error instanceof SshConnectError)) throw error;
      failures.push(error.message);
    }
  }
  throw new SshConnectError(
    `no manager of target '${config.targetName}' answered over SSH:\n  ${failures.join("\n  ")}`,
    `check targets.${config.targetName}.hosts.managers and that the VMs are up`,
  );
}

export function sshTargetFor(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
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

/** Local loopback ports to Nomad and Consul on the manager and to Traefik on a worker. */
async function openTunnels(manager: SshConnection, worker: SshConnection): Promise<ApiUrls> {
  return {
    nomad: await tunnelUrl(manager, remoteApiPorts.nomad),
    consul: await tunnelUrl(manager, remoteApiPorts.consul),
    traefikApi: await tunnelUrl(worker, remoteApiPorts.traefikApi),
    entrypoint: await tunnelUrl(worker, remoteApiPorts.entrypoint),
  };
}

/** `http://127.0.0.1:<local port>` reaching `port` on the SSH server's own loopback. */
export async function tunnelUrl(ssh: SshConnection, port: number): Promise<string> {
  return `http://127.0.0.1:${(await ssh.forwardLocalPort("127.0.0.1", port)).localPort}`;
}

/**
 * An SSH connection to one host of the inventory. `require-pinned` refuses a host whose key was
 * not pinned (bring-up pins each host it creates); the default trusts an unknown host once.
 */
export function connectToHost(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
  host: InventoryHost,
  policy: HostKeyPolicy = "pin-on-first-contact",
): Promise<SshConnection> {
  return connectSsh({
    ...sshTargetFor(config, host.ssh.host, host.ssh.port),
    hostKeyPolicy: policy,
  });
}

function clientsFor(
  config: LoadedConfig,
  urls: ApiUrls,
  close: () => Promise<void>,
  extra: ConnectOptions,
): ClusterApis {
  return {
    nomad: new NomadClient({
      address: urls.nomad,
      ...(config.secrets.nomadToken ? { token: config.secrets.nomadToken } : {}),
      ...(extra.onNomadRequest ? { onRequest: extra.onNomadRequest } : {}),
    }),
    consul: new ConsulClient({
      address: urls.consul,
      ...(config.secrets.consulToken ? { token: config.secrets.consulToken } : {}),
    }),
    traefik: new TraefikClient({ api: urls.traefikApi, entrypoint: urls.entrypoint }),
    close,
  };
}
