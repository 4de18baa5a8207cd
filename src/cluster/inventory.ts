import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { readUserFile } from "../config/read-file.js";
import type { Target } from "../config/schema.js";
import { ConfigError, UsageError } from "../errors.js";
import { targetPaths } from "./paths.js";
import type { LocalAcme } from "../terraform/outputs.js";
import type { HostRole } from "../plan/hosts.js";
import type { SiteHost } from "../ansible/site.js";
import { servesHttps } from "../plan/tls.js";

/** A host's role: one meaning, from plan/hosts.ts. */
export type { HostRole };

/** One VM of a target, as bring-up made it (or as cluster.yaml lists it). */
export interface InventoryHost {
  /** Stable name, e.g. `production-worker-2`; unchanged when other hosts come or go. */
  name: string;
  role: HostRole;
  /** Where the other hosts reach it (the VPC address): Consul and Nomad bind and join here. */
  privateAddress: string;
  /** Where this machine reaches its sshd (local target: 127.0.0.1 and the host's own port). */
  ssh: { host: string; port: number };
}

export interface Inventory {
  target: string;
  hosts: InventoryHost[];
  /** What users reach: the load balancer in front of the workers' Traefik. */
  loadBalancer?: { host: string; httpPort: number; httpsPort: number };
  /**
   * The worker whose host volume holds the package site's data (digitalocean: where the block
   * storage volume is attached). The package job is pinned to it; a move or restore updates it.
   */
  packageDataHost?: string;
  /** The data volume's stable device id on the holder (OpenTofu's output), mounted there. */
  packageDataDevice?: string;
  /** local: the target's own ACME CA (Pebble), from OpenTofu's outputs. */
  acme?: LocalAcme;
  /** Where every hostname's A record points (digitalocean: the load balancer's public address). */
  dns?: { address: string };
}

/** Where bring-up records the hosts it made: `.elm-infra/<target>/inventory.json`. */
export function inventoryPath(
  config: Pick<LoadedConfig, "root" | "targetName" | "target">,
): string {
  return join(targetPaths(config).state, "inventory.json");
}

export const managersOf = (inv: Inventory) => inv.hosts.filter((h) => h.role === "manager");
export const workersOf = (inv: Inventory) => inv.hosts.filter((h) => h.role === "worker");

/** Pure: the inventory cluster.yaml's `targets.<name>.hosts` describes (SSH on ssh.port). */
export function inventoryFromHosts(
  targetName: string,
  target: Pick<Target, "hosts" | "ssh">,
): Inventory | undefined {
  if (!target.hosts) return undefined;
  const host = (role: HostRole) => (address: string, i: number) => ({
    name: `${targetName}-${role}-${i + 1}`,
    role,
    privateAddress: address,
    ssh: { host: address, port: target.ssh.port },
  });
  return {
    target: targetName,
    hosts: [
      ...target.hosts.managers.map(host("manager")),
      ...target.hosts.workers.map(host("worker")),
    ],
  };
}

/**
 * The target's hosts: listed in cluster.yaml (`targets.<name>.hosts`) when the user manages the
 * VMs, else what bring-up recorded. Undefined when neither exists (nothing brought up yet).
 */
export async function readInventory(
  config: Pick<LoadedConfig, "root" | "targetName" | "target" | "file">,
): Promise<Inventory | undefined> {
  const listed = inventoryFromHosts(config.targetName, config.target);
  if (listed) return listed;
  const file = inventoryPath(config);
  // Only a missing file means "nothing brought up yet"; one that cannot be read is said.
  const text = await readUserFile(file, {
    what: "host inventory",
    maxBytes: 4_000_000,
    ifMissing: undefined,
    hint: "check the file's permissions (bring-up writes it 0600 for the user who ran it)",
  });
  if (text === undefined) return undefined;
  try {
    const inv = JSON.parse(text) as Inventory;
    if (!Array.isArray(inv.hosts)) throw new Error("no hosts list");
    return inv;
  } catch (error) {
    throw new ConfigError(
      [
        {
          file,
          path: "",
          message: `is not an inventory bring-up wrote: ${(error as Error).message}`,
        },
      ],
      `run bring-up again to rewrite it: elm-infra bring-up --target ${config.targetName}`,
    );
  }
}

/** Records the hosts (written whole, then renamed: never half a file). */
export async function writeInventory(
  config: Pick<LoadedConfig, "root" | "targetName" | "target">,
  inventory: Inventory,
): Promise<string> {
  const file = inventoryPath(config);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.partial`, `${JSON.stringify(inventory, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.partial`, file);
  return file;
}

/**
 * Pure: where users' requests enter the target. The dev agents' entrypoint; else the load
 * balancer bring-up recorded; else, on the local target, its published loopback port.
 */
export function loadBalancerUrl(
  config: Pick<LoadedConfig, "target">,
  inventory: Inventory | undefined,
): string | undefined {
  if (config.target.endpoints) return config.target.endpoints.entrypoint;
  const lb = inventory?.loadBalancer;
  if (lb) return `http://${lb.host.includes(":") ? `[${lb.host}]` : lb.host}:${lb.httpPort}`;
  if (config.target.provider === "local") return `http://127.0.0.1:${config.target.ports.http}`;
  return undefined;
}

/**
 * Pure: where the probe enters the target. On a target that serves HTTPS, the load balancer's
 * https port (on local, its published loopback port); otherwise what loadBalancerUrl says.
 */
export function probeUrl(
  config: Pick<LoadedConfig, "target">,
  inventory: Inventory | undefined,
): string | undefined {
  if (!servesHttps(config.target)) return loadBalancerUrl(config, inventory);
  const lb = inventory?.loadBalancer;
  if (lb) return `https://${lb.host.includes(":") ? `[${lb.host}]` : lb.host}:${lb.httpsPort}`;
  if (config.target.provider === "local") return `https://127.0.0.1:${config.target.ports.https}`;
  return undefined;
}

/** The target's hosts, or a refusal (exit 2) that says to bring the target up first. */
export async function requireInventory(
  config: Pick<LoadedConfig, "root" | "targetName" | "target" | "file">,
): Promise<Inventory> {
  const inventory = await readInventory(config);
  if (!inventory || inventory.hosts.length === 0)
    throw new UsageError(
      `target ${config.targetName} has no hosts yet`,
      `bring it up first: elm-infra bring-up --target ${config.targetName}`,
    );
  return inventory;
}

/** The inventory's hosts as the playbooks address them (site.yml, package-data.yml). */
export const playbookHosts = (hosts: readonly InventoryHost[]): SiteHost[] =>
  hosts.map((h) => ({
    name: h.name,
    role: h.role,
    privateIp: h.privateAddress,
    sshHost: h.ssh.host,
    sshPort: h.ssh.port,
  }));
