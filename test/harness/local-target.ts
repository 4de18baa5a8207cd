/**
 * Test harness: a `local` target of its own for a test run (unique name, subnet and loopback
 * ports) in a temporary folder holding its cluster.yaml, with the repository's jobs/ and images/
 * beside it as cluster.yaml's folder would hold them. Everything bring-up makes for it carries the
 * label elm-infra.target=<name>.
 */
import { mkdir, mkdtemp, readdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { ensureHostImage } from "./hosts.js";
import { freePorts } from "./ports.js";

const repo = resolve(import.meta.dirname, "../..");

export interface LocalTarget {
  name: string;
  /** The temporary folder: cluster.yaml, .elm-infra/<name>/, secrets/. */
  work: string;
  config: string;
  httpPort: number;
  httpsPort: number;
  /** The test DNS on loopback (challtestsrv, ports.dns). */
  dnsPort: number;
}

export interface LocalTargetOptions {
  managers: number;
  workers: number;
  /** 0-39: picks the subnet 10.<subnetBase + slot>.0.0/24 and the SSH port base. */
  slot: number;
  subnetBase: number;
  sshBase: number;
  /** The services: section of cluster.yaml, as YAML. */
  services: string;
  image?: string;
  /** The target's acme: section as a flow mapping, e.g. `{ certificateLifetime: 10m }`. */
  acme?: string;
  /** The target's shared store (issue 23): its state, lock, secrets and files there from the start. */
  store?: { endpoint: string; bucket: string; region: string };
  /** Who operates it: each one's age recipient, and SSH public key line when given. */
  operators?: Array<{ name: string; ageRecipient: string; sshKey?: string }>;
}

/** The store and operators lines of a target in cluster.yaml (none when not given). */
function sharingLines(o: Pick<LocalTargetOptions, "store" | "operators">): string {
  const lines: string[] = [];
  if (o.store)
    lines.push(
      `    store: { endpoint: ${JSON.stringify(o.store.endpoint)}, bucket: ${o.store.bucket}, region: ${o.store.region} }`,
    );
  if (o.operators?.length) {
    lines.push("    operators:");
    for (const op of o.operators)
      lines.push(
        `      - { name: ${op.name}, ageRecipient: ${op.ageRecipient}${op.sshKey ? `, sshKey: ${JSON.stringify(op.sshKey.trim())}` : ""} }`,
      );
  }
  return lines.map((l) => `${l}\n`).join("");
}

/** A services: section with one small site (one allocation): for a target whose sites are not the point. */
export const minimalServices = `  elm-lang.org:
    job: jobs/elm-lang.org.nomad.hbs
    image: elm-lang.org
    hostnames: [elm-lang.org]
    healthPath: /health
    port: 8080
    count: 1
    resources: { cpu: 50, memory: 64 }
`;

/**
 * cluster.yaml with one local target reached over SSH with `privateKey` (its hosts at the given
 * addresses, when given; no endpoints, no registry) and minimalServices: for a test of what
 * elm-infra does on hosts it started itself.
 */
export function sshTargetYaml(o: {
  target: string;
  privateKey: string;
  knownHosts: string;
  hosts?: { managers: string[]; workers: string[] };
}): string {
  const list = (addresses: string[]) => addresses.map((a) => JSON.stringify(a)).join(", ");
  return `targets:
  ${o.target}:
    provider: local
    region: local
    image: elm-infra/host:latest
    sizes: { manager: local, worker: local }
    managers: 1
    workers: 1
    registry: none
    ssh:
      privateKey: ${JSON.stringify(o.privateKey)}
      knownHosts: ${JSON.stringify(o.knownHosts)}
${
  o.hosts
    ? `    hosts:
      managers: [${list(o.hosts.managers)}]
      workers: [${list(o.hosts.workers)}]
`
    : ""
}services:
${minimalServices}`;
}

/**
 * The host image: ELM_INFRA_E2E_HOST_IMAGE when set (a pinned tag, on a machine where other runs
 * move :latest), else elm-infra/host:latest made for the current recipe.
 */
export async function hostImageForTests(): Promise<string> {
  const pinned = process.env.ELM_INFRA_E2E_HOST_IMAGE;
  if (pinned) return pinned;
  await ensureHostImage();
  return "elm-infra/host:latest";
}

export async function makeLocalTarget(name: string, o: LocalTargetOptions): Promise<LocalTarget> {
  const work = await mkdtemp(join(tmpdir(), `elm-infra-${name}-`));
  await symlink(join(repo, "jobs"), join(work, "jobs"));
  // images/ is a folder of links to the repository's, so that a test can add a service's own.
  await mkdir(join(work, "images"));
  for (const entry of await readdir(join(repo, "images")))
    await symlink(join(repo, "images", entry), join(work, "images", entry));
  const [httpPort, httpsPort, registryPort, dnsPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const config = join(work, "cluster.yaml");
  await writeFile(
    config,
    `targets:
  ${name}:
    provider: local
    region: local
    image: ${o.image ?? (await hostImageForTests())}
    sizes: { manager: local, worker: local }
    managers: ${o.managers}
    workers: ${o.workers}
    registry: { push: 127.0.0.1:${registryPort}, pull: 10.${o.subnetBase + o.slot}.0.5:5000 }
    ssh:
      user: root
      privateKey: .elm-infra/${name}/id_ed25519
      knownHosts: .elm-infra/${name}/known_hosts
    ports: { http: ${httpPort}, https: ${httpsPort}, ssh: ${o.sshBase + o.slot * 300}, dns: ${dnsPort} }
    network: { subnet: 10.${o.subnetBase + o.slot}.0.0/24 }
${sharingLines(o)}    # One pair of cluster snapshots kept per worker: a second run on a worker shows the pruning.
    snapshots: { keep: 1 }${o.acme ? `\n    acme: ${o.acme}` : ""}
services:
${o.services}`,
  );
  return { name, work, config, httpPort, httpsPort, dnsPort };
}

/** Removes whatever a target left (a failed run): containers, volumes, networks, by its label. */
/**
 * The loop devices behind a target's package data volume (its file under `work`), detached: what
 * OpenTofu's destroy does, for a run that failed before it.
 */
export async function detachVolumes(work: string, name: string): Promise<void> {
  const file = join(work, ".elm-infra", name, "volumes", "package-data.img");
  const found = await execa("losetup", ["-j", file, "-O", "NAME", "-n"], { reject: false });
  for (const device of String(found.stdout)
    .split("\n")
    .filter((l) => l.trim() !== ""))
    await execa("losetup", ["-d", device.trim()], { reject: false });
}

export async function removeLabelled(name: string): Promise<void> {
  const label = `label=elm-infra.target=${name}`;
  const list = async (...args: string[]) =>
    String((await execa("docker", [...args, "--filter", label], { reject: false })).stdout)
      .split("\n")
      .filter((l) => l.trim() !== "");
  const containers = await list("ps", "-aq");
  if (containers.length)
    await execa("docker", ["rm", "-f", "-v", ...containers], { reject: false });
  const volumes = await list("volume", "ls", "-q");
  if (volumes.length) await execa("docker", ["volume", "rm", "-f", ...volumes], { reject: false });
  const networks = await list("network", "ls", "-q");
  if (networks.length) await execa("docker", ["network", "rm", ...networks], { reject: false });
}
