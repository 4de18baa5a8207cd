/**
 * The Terraform variable set of a target: pure, from the target's configuration and the hosts
 * src/plan/hosts.ts planned (with their local addresses). Secrets never enter the var set (it is written to a file in the working
 * directory); they reach Terraform as TF_VAR_ environment variables from `secretVarEnv`.
 */
import { createHash } from "node:crypto";
import { ConfigError, type ConfigProblem } from "../errors.js";
import type { Secrets, Target } from "../config/schema.js";
import { durationSeconds } from "../config/schema.js";
import { authorizedSshKeys, sshPublicKeyProblem } from "../config/ssh-public-key.js";

export type TfValue = string | number | boolean | null | TfValue[] | { [key: string]: TfValue };
export type TfVarSet = Record<string, TfValue>;

/** One host to converge to, as planHosts names it; on the local target with its address. */
export interface HostVars {
  name: string;
  role: "manager" | "worker";
  /** local: the loopback SSH port and the static address (localAddress). */
  local?: { sshPort: number; privateIp: string };
}

/** local: the Docker network's layout (localNetwork). */
export interface LocalNetworkVars {
  subnet: string;
  loadBalancerIp: string;
  pebbleIp: string;
  acmeDnsIp: string;
  aptIp: string;
  /** The local registry's address: the workers pull from <registryIp>:5000. */
  registryIp: string;
  dynamicRange: string;
}

/** What the var set needs beyond cluster.yaml: read from files and the state by the caller. */
export interface VarSetInputs {
  /** One OpenSSH public key line, e.g. the contents of `<ssh.privateKey>.pub`. */
  sshPublicKey: string;
  hosts: readonly HostVars[];
  /** digitalocean: the worker the package data volume is attached to. */
  packageDataHost?: string;
  /** local: required there. */
  network?: LocalNetworkVars;
  /** local: the signed apt repository's folder on this machine (src/tools/agents-apt.sh). */
  aptRepositoryPath?: string;
  /** digitalocean: extra droplet tags. */
  tags?: string[];
  /** Every hostname's A record (plan/dns.ts): its name inside dns.zone on digitalocean. */
  dnsRecords: ReadonlyArray<{ hostname: string; name: string }>;
}

/** The local target's test DNS on loopback, unless ports.dns says otherwise (plan/dns.ts asks it there). */
export const defaultLocalDnsPort = 8053;

/** The Terraform module folder under iac/ for each provider. */
export function moduleDirFor(provider: Target["provider"]): string {
  return provider === "digitalocean" ? "iac/digitalocean" : "iac/local";
}

/** The iac modules prefix resource names with the target name: DNS-label-like, 32 characters. */
/**
 * Who reaches the droplets' SSH through the cloud firewall: adminCidrs and every operator's
 * adminCidr, once each, in the order listed.
 */
export function adminAddresses(target: Pick<Target, "adminCidrs" | "operators">): string[] {
  const operators = (target.operators ?? []).flatMap((o) => o.adminCidr ?? []);
  return [...new Set([...(target.adminCidrs ?? []), ...operators])];
}

const resourceNamePrefix = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function computeVarSet(targetName: string, target: Target, inputs: VarSetInputs): TfVarSet {
  const problems: ConfigProblem[] = [];
  if (!resourceNamePrefix.test(targetName)) {
    problems.push({
      file: "cluster.yaml",
      path: `targets.${targetName}`,
      message:
        "a target name becomes a resource name prefix: use at most 32 lower-case letters, digits or '-'",
    });
  }
  const key = inputs.sshPublicKey.trim();
  if (sshPublicKeyProblem(key)) {
    problems.push({
      file: `${target.ssh.privateKey}.pub`,
      path: "",
      message: "is not an OpenSSH public key line (ssh-ed25519 AAAA...)",
    });
  }
  const adminCidrs = adminAddresses(target);
  if (target.provider === "digitalocean" && adminCidrs.length === 0) {
    problems.push({
      file: "cluster.yaml",
      path: `targets.${targetName}.adminCidrs`,
      message:
        "is required for a digitalocean target (or an operator's adminCidr): the addresses allowed to SSH to the droplets, e.g. [203.0.113.7/32]",
    });
  }
  const fingerprint =
    target.provider === "digitalocean" && problems.length === 0
      ? accountKeyFingerprint(target, key, problems)
      : null;
  if (problems.length > 0) throw new ConfigError(problems);

  const common: TfVarSet = {
    name: targetName,
    image: target.image,
    ssh_public_key: key,
    // Every listed operator's key on a host's first boot, so that one who logs in with their own
    // key (ELM_INFRA_SSH_KEY_FILE) reaches the hosts this apply creates.
    operator_ssh_keys: authorizedSshKeys(key, target).slice(1),
    // The worker the package data volume is attached to: the same variable on both modules.
    package_data_host: inputs.packageDataHost ?? null,
  };
  const { hosts } = inputs;
  if (target.provider === "digitalocean") {
    return {
      ...common,
      region: target.region,
      manager_size: target.sizes.manager,
      worker_size: target.sizes.worker,
      ssh_port: target.ssh.port,
      ssh_key_fingerprint: fingerprint,
      admin_cidrs: adminCidrs,
      ...(target.network ? { vpc_cidr: target.network.subnet } : {}),
      hosts: Object.fromEntries(hosts.map((h) => [h.name, { role: h.role }])),
      ...(inputs.tags ? { tags: inputs.tags } : {}),
      // A records in the zone only when cluster.yaml names one; else the user makes them.
      dns_zone: target.dns?.zone ?? null,
      dns_records: target.dns?.zone
        ? Object.fromEntries(inputs.dnsRecords.map((r) => [r.hostname, r.name]))
        : {},
    };
  }
  const { network } = inputs;
  const unaddressed = hosts.filter((h) => !h.local).map((h) => h.name);
  if (!network || unaddressed.length > 0) {
    throw new Error(`local var set without addresses for: ${unaddressed.join(", ") || "network"}`);
  }
  if (!inputs.aptRepositoryPath) throw new Error("local var set without the apt repository");
  return {
    ...common,
    hosts: Object.fromEntries(
      hosts.map((h) => [
        h.name,
        { role: h.role, ssh_port: h.local!.sshPort, private_ip: h.local!.privateIp },
      ]),
    ),
    registry_private_ip: network.registryIp,
    registry_port: localRegistryPort(targetName, target, network.registryIp),
    network_subnet: network.subnet,
    network_ip_range: network.dynamicRange,
    lb_private_ip: network.loadBalancerIp,
    pebble_private_ip: network.pebbleIp,
    acme_dns_private_ip: network.acmeDnsIp,
    apt_private_ip: network.aptIp,
    apt_repository_path: inputs.aptRepositoryPath,
    acme_certificate_lifetime: durationSeconds(target.acme?.certificateLifetime ?? "1h"),
    http_port: target.ports.http,
    https_port: target.ports.https,
    dns_port: target.ports.dns ?? defaultLocalDnsPort,
    dns_hostnames: inputs.dnsRecords.map((r) => r.hostname),
  };
}

/**
 * The local registry's loopback port, from `registry.push` (127.0.0.1:<port>); its `pull` must be
 * where iac/local puts it (<cidrhost 5 of the subnet>:5000), or the workers would pull elsewhere.
 */
function localRegistryPort(targetName: string, target: Target, registryIp: string): number {
  const registry = target.registry;
  const push =
    typeof registry === "object" ? /^127\.0\.0\.1:([0-9]{4,5})$/.exec(registry.push) : null;
  const port = push ? Number(push[1]) : 0;
  if (
    typeof registry === "object" &&
    push &&
    port >= 1024 &&
    port <= 65535 &&
    registry.pull === `${registryIp}:5000`
  )
    return port;
  throw new ConfigError(
    [
      {
        file: "cluster.yaml",
        path: `targets.${targetName}.registry`,
        message: `the local target runs its own registry: it must be { push: 127.0.0.1:<port>, pull: ${registryIp}:5000 } (its address on the target's network)`,
      },
    ],
    `write registry: { push: 127.0.0.1:15000, pull: ${registryIp}:5000 } in cluster.yaml`,
  );
}

/**
 * Secrets as TF_VAR_ environment variables for the target's module. The DigitalOcean token is
 * required there; a missing token is a configuration problem reported before Terraform runs.
 */
export function secretVarEnv(
  targetName: string,
  target: Target,
  secrets: Secrets,
): Record<string, string> {
  if (target.provider !== "digitalocean") return {};
  if (!secrets.digitaloceanToken) {
    throw new ConfigError(
      [
        {
          file: `secrets/${targetName}.yaml`,
          path: "digitaloceanToken",
          message: "is required for a digitalocean target",
        },
      ],
      "put the API token in the secrets file (mode 0600) or set ELM_INFRA_DIGITALOCEAN_TOKEN",
    );
  }
  return { TF_VAR_do_token: secrets.digitaloceanToken };
}

/** Pure: the MD5 fingerprint DigitalOcean lists for an OpenSSH public key line (aa:bb:...). */
export function md5Fingerprint(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? "", "base64");
  return (createHash("md5").update(blob).digest("hex").match(/../g) ?? []).join(":");
}

/** ssh.accountKeyFingerprint, checked against the key it must name; null when not given. */
function accountKeyFingerprint(
  target: Target,
  key: string,
  problems: ConfigProblem[],
): string | null {
  const given = target.ssh.accountKeyFingerprint;
  if (given === undefined) return null;
  const actual = md5Fingerprint(key);
  if (given !== actual)
    problems.push({
      file: "cluster.yaml",
      path: "ssh.accountKeyFingerprint",
      message: `is not the fingerprint of ${target.ssh.privateKey}.pub (that key's is ${actual}): name the key bring-up uses`,
    });
  return given;
}
