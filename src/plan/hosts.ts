/**
 * Which hosts a target converges to, and where each one is reached on the local target. Pure:
 * cluster.yaml's counts and the host names that exist now (read from OpenTofu's state) in, the
 * host set out. A host's name, SSH port and address derive from its role and number only, never
 * from a count, so adding or removing one host never renames or renumbers another.
 */
import { OperationError, UsageError } from "../errors.js";

export type HostRole = "manager" | "worker";

export interface PlannedHost {
  /** `<target>-manager-<n>` or `<target>-worker-<n>`. */
  name: string;
  role: HostRole;
  /** From 1; never reused while the host exists; a new host takes the lowest free one. */
  n: number;
}

export interface HostPlanInput {
  target: string;
  managers: number;
  workers: number;
  /** Names of the hosts that exist now (OpenTofu's state); empty before the first bring-up. */
  existing: readonly string[];
  /** Hosts to remove first when a count drops; without it the highest numbers go. */
  remove?: readonly string[];
  /**
   * Hosts to replace (a dead one): each goes and a host of its role comes in its place, with a
   * number no existing host has, so that Nomad and Consul see a new node, never the old one back.
   */
  replace?: readonly string[];
  /** digitalocean: the worker the package data volume is attached to now, if any. */
  packageDataHost?: string;
}

export interface HostPlan {
  /** Every host after the change: managers, then workers, each by number. */
  hosts: PlannedHost[];
  created: string[];
  kept: string[];
  removed: string[];
  /** The worker that holds the package data: the current one while it stays, else the lowest. */
  packageDataHost: string | undefined;
}

const roles: readonly HostRole[] = ["manager", "worker"];

export function hostName(target: string, role: HostRole, n: number): string {
  return `${target}-${role}-${n}`;
}

/** The role and number in a host name of this target; undefined for any other name. */
export function parseHostName(target: string, name: string): PlannedHost | undefined {
  const prefix = `${target}-`;
  if (!name.startsWith(prefix)) return undefined;
  const match = /^(manager|worker)-([1-9][0-9]{0,3})$/.exec(name.slice(prefix.length));
  if (!match) return undefined;
  return { name, role: match[1] as HostRole, n: Number(match[2]) };
}

const byNumber = (a: PlannedHost, b: PlannedHost) => a.n - b.n;

export function planHosts(input: HostPlanInput): HostPlan {
  const existing = parseExisting(input.target, input.existing);
  const remove = new Set(input.remove ?? []);
  const replace = new Set(input.replace ?? []);
  checkRemovable(input, existing, new Set([...remove, ...replace]));

  const hosts: PlannedHost[] = [];
  const created: string[] = [];
  const removed: string[] = [];
  for (const role of roles) {
    const wanted = role === "manager" ? input.managers : input.workers;
    const all = existing.filter((h) => h.role === role).sort(byNumber);
    const replaced = all.filter((h) => replace.has(h.name));
    const now = all.filter((h) => !replace.has(h.name));
    const surplus = Math.max(0, now.length - wanted);
    const told = now.filter((h) => remove.has(h.name));
    if (told.length > surplus) {
      const count = role === "manager" ? "managers" : "workers";
      throw new UsageError(
        `removing ${told.map((h) => h.name).join(", ")} would leave ${now.length - told.length} ${count}, but cluster.yaml asks for ${wanted}`,
        `lower targets.${input.target}.${count} in cluster.yaml to ${now.length - told.length} as well`,
      );
    }
    // Named hosts go first, then the highest numbers.
    const untold = now.filter((h) => !remove.has(h.name)).reverse();
    const leaving = [...replaced, ...told, ...untold.slice(0, surplus - told.length)];
    const staying = now.filter((h) => !leaving.includes(h));
    // A replaced host's number stays taken: its replacement is a new node.
    const taken = new Set([...staying, ...replaced].map((h) => h.n));
    const fresh: PlannedHost[] = [];
    for (let n = 1; staying.length + fresh.length < wanted; n++) {
      if (!taken.has(n)) fresh.push({ name: hostName(input.target, role, n), role, n });
    }
    hosts.push(...[...staying, ...fresh].sort(byNumber));
    created.push(...fresh.map((h) => h.name));
    removed.push(...leaving.sort(byNumber).map((h) => h.name));
  }
  const kept = hosts.filter((h) => !created.includes(h.name)).map((h) => h.name);
  return {
    hosts,
    created,
    kept,
    removed,
    packageDataHost: choosePackageDataHost(hosts, input.packageDataHost),
  };
}

function parseExisting(target: string, names: readonly string[]): PlannedHost[] {
  const parsed = names.map((name) => ({ name, host: parseHostName(target, name) }));
  const foreign = parsed.filter((p) => !p.host).map((p) => p.name);
  if (foreign.length > 0) {
    throw new OperationError(
      `the state of target ${target} holds hosts elm-infra did not name: ${foreign.join(", ")}`,
      `hosts are named ${target}-manager-<n> or ${target}-worker-<n>; remove the others from the state (tofu state rm) or destroy the target`,
    );
  }
  return [...new Map(parsed.map((p) => [p.name, p.host!])).values()];
}

function checkRemovable(
  input: HostPlanInput,
  existing: readonly PlannedHost[],
  remove: ReadonlySet<string>,
): void {
  const unknown = [...remove].filter((name) => !existing.some((h) => h.name === name));
  if (unknown.length > 0) {
    throw new UsageError(
      `cannot remove ${unknown.join(", ")}: no such host in target ${input.target}`,
      `the hosts are: ${existing.map((h) => h.name).join(", ") || "none yet"}`,
    );
  }
}

function choosePackageDataHost(
  hosts: readonly PlannedHost[],
  current: string | undefined,
): string | undefined {
  const workers = hosts.filter((h) => h.role === "worker");
  if (current && workers.some((h) => h.name === current)) return current;
  return workers[0]?.name;
}

/**
 * The local target's network, one /24 (or larger) Docker subnet laid out by host number:
 *   .1 Docker's gateway   .2 the load balancer   .3 Pebble (the ACME CA)   .4 its DNS
 *   .6 the apt repository of the agents (the stand-in for HashiCorp's)
 *   .11-.99 manager-1..89   .101-.199 worker-1..99
 *   .224-.255 Docker's own pick, for containers that are not hosts (tests, tools)
 * and each host's SSH port is `ports.ssh` plus the last number of its address.
 */
export const defaultLocalSubnet = "10.213.0.0/24";

export interface LocalNetwork {
  subnet: string;
  loadBalancerIp: string;
  /** Pebble, the local ACME CA, and the challenge test server it asks for DNS. */
  pebbleIp: string;
  acmeDnsIp: string;
  /** The signed apt repository the hosts install Consul and Nomad from. */
  aptIp: string;
  /** The target's registry (the workers pull from <registryIp>:5000). */
  registryIp: string;
  /** Where Docker places containers without a static address: never a host's. */
  dynamicRange: string;
}

export interface LocalAddress {
  privateIp: string;
  sshPort: number;
}

const hostOffset: Record<HostRole, { first: number; max: number }> = {
  manager: { first: 10, max: 89 },
  worker: { first: 100, max: 99 },
};

export function localNetwork(subnet: string): LocalNetwork {
  const base = networkBase(subnet);
  return {
    subnet,
    loadBalancerIp: formatIpv4(base + 2),
    pebbleIp: formatIpv4(base + 3),
    acmeDnsIp: formatIpv4(base + 4),
    aptIp: formatIpv4(base + 6),
    registryIp: formatIpv4(base + 5),
    dynamicRange: `${formatIpv4(base + 224)}/27`,
  };
}

export function localAddress(
  host: Pick<PlannedHost, "name" | "role" | "n">,
  subnet: string,
  sshBasePort: number,
): LocalAddress {
  const { first, max } = hostOffset[host.role];
  if (host.n > max) {
    throw new OperationError(
      `${host.name}: the local target numbers ${host.role}s up to ${max}`,
      "remove hosts with high numbers (bring-up --remove) before adding more",
    );
  }
  const offset = first + host.n;
  const sshPort = sshBasePort + offset;
  if (sshPort > 65535) {
    throw new OperationError(
      `${host.name}: SSH port ${sshPort} is above 65535`,
      "lower ports.ssh in cluster.yaml (a host's SSH port is ports.ssh + up to 199)",
    );
  }
  return { privateIp: formatIpv4(networkBase(subnet) + offset), sshPort };
}

/** The network address of an IPv4 CIDR of /24 or larger, as a number. */
function networkBase(subnet: string): number {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefix = Number(match?.[5]);
  if (!match || octets.some((o) => o > 255) || prefix < 8 || prefix > 24) {
    throw new OperationError(
      `the local network ${subnet} is not an IPv4 subnet of /8 to /24`,
      "set network.subnet in cluster.yaml to a range like 10.213.0.0/24",
    );
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  return address - (address % size);
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}
