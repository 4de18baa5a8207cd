/** Ties a loaded configuration to a ready TerraformRunner: the glue commands use. */
import { access, rm } from "node:fs/promises";
import { readUserFile } from "../config/read-file.js";
import { fileURLToPath } from "node:url";
import { targetPaths } from "./paths.js";
import type { LoadedConfig } from "../config/load.js";
import { ConfigError, FileRefusedError, OperationError } from "../errors.js";
import { findBinary, findCliConfig, toolCacheDir } from "../terraform/binary.js";
import type { TerraformEvent } from "../terraform/events.js";
import { storeLocation } from "../store/location.js";
import { renderBackend, renderStoreBackend } from "../terraform/backend.js";
import { parseClusterOutputs } from "../terraform/outputs.js";
import { prepareWorkDir, TerraformRunner, workDirFor, writeVarFile } from "../terraform/runner.js";
import { hostsInState } from "../terraform/state.js";
import { moduleDirFor, secretVarEnv, type TfVarSet } from "../terraform/vars.js";
import { parseHostName, planHosts, type HostPlan } from "../plan/hosts.js";
import { planVarSet } from "../plan/tfvars.js";
import { dnsRecords } from "../plan/dns.js";
import { localAgentRepositoryDir } from "../plan/agents.js";
import { pinnedVersion } from "../plan/jobs.js";
import { managersOf, readInventory, workersOf, type Inventory } from "./inventory.js";
import type { HostCounts } from "../plan/scale.js";

/** The iac/ folder shipped with elm-infra (src/terraform -> iac, and dist/terraform -> iac). */
export function moduleDir(provider: "digitalocean" | "local"): string {
  return fileURLToPath(new URL(`../../${moduleDirFor(provider)}`, import.meta.url));
}

/** The public half of the target's SSH key: `<ssh.privateKey>.pub`, relative to cluster.yaml. */
export async function readSshPublicKey(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
): Promise<string> {
  const { publicKey: file, privateKey } = targetPaths(config);
  try {
    return (await readUserFile(file, { what: "SSH public key", maxBytes: 16_000 })).trim();
  } catch (error) {
    const why = error instanceof FileRefusedError ? `: ${error.reason}` : "";
    throw new ConfigError(
      [{ file, path: "", message: `cannot read the SSH public key${why}` }],
      `create the key pair: ssh-keygen -t ed25519 -N '' -f ${privateKey}`,
    );
  }
}

export interface OpenTerraformOptions {
  onEvent?: (event: TerraformEvent) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Whether the target's OpenTofu working folder is there yet. A plan-only run (bring-up --dry-run)
 * on a target that never had one removes the folder it made (removeTerraformWorkDir): a command
 * that only plans leaves no new file.
 */
export async function terraformWorkDirExists(config: LoadedConfig): Promise<boolean> {
  return access(workDirFor(config.root, config.targetName)).then(
    () => true,
    () => false,
  );
}

export async function removeTerraformWorkDir(tf: TerraformRunner): Promise<void> {
  await rm(tf.workDir, { recursive: true, force: true });
}

/** The state's backend: the target's store (with its lockfile), else Spaces, else local. */
function backendOf(config: LoadedConfig): { backend?: string } {
  if (config.target.store)
    return { backend: renderStoreBackend(config.targetName, storeLocation(config)) };
  const remote = config.target.remoteState;
  return remote ? { backend: renderBackend(config.targetName, remote) } : {};
}

/**
 * Finds the program and prepares .elm-infra/<target>/terraform with the module's files (and
 * backend.tf when cluster.yaml names a store or a remote state). No var set yet: see prepareTerraform.
 */
export async function openTerraform(
  config: LoadedConfig,
  options: OpenTerraformOptions = {},
): Promise<TerraformRunner> {
  const env = options.env ?? process.env;
  const cacheDir = toolCacheDir(env);
  const secretEnv = secretVarEnv(config.targetName, config.target, config.secrets);
  const binary = await findBinary(config.cluster.terraform.binary, { cacheDir, env });
  const workDir = workDirFor(config.root, config.targetName);
  await prepareWorkDir(moduleDir(config.target.provider), workDir, backendOf(config));
  const cliConfigFile = await findCliConfig(cacheDir, env);
  return new TerraformRunner({
    binary,
    workDir,
    secretEnv,
    env,
    ...(cliConfigFile ? { cliConfigFile } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

export interface PrepareTerraformOptions extends OpenTerraformOptions {
  /** Hosts to remove first when cluster.yaml's counts drop (else the highest numbers go). */
  remove?: readonly string[];
  /** Dead hosts to replace by new ones (new numbers); the counts stay. */
  replace?: readonly string[];
  /** The worker to attach the package data volume to (a move); else where it is now. */
  packageDataHost?: string;
  /** Overrides reading `<ssh.privateKey>.pub`. */
  sshPublicKey?: string;
  /** digitalocean: extra droplet tags. */
  tags?: string[];
  /** Variables set on top of the computed var set; never a secret. */
  extraVars?: TfVarSet;
}

export interface PreparedTerraform {
  tf: TerraformRunner;
  /** The hosts to converge to and what changes (created, kept, removed names). */
  hostPlan: HostPlan;
  varSet: TfVarSet;
}

/**
 * Everything before `plan`: the working directory, `init`, the hosts in the state, the host plan
 * from cluster.yaml's counts, and the var set written for plan, apply and destroy.
 */
export async function prepareTerraform(
  config: LoadedConfig,
  options: PrepareTerraformOptions = {},
): Promise<PreparedTerraform> {
  const sshPublicKey = options.sshPublicKey ?? (await readSshPublicKey(config));
  const tf = await openTerraform(config, options);
  await tf.init();
  const inState = hostsInState(await tf.pullState());
  // Where the volume is attached (the state of either module), else the inventory's record, so
  // a bring-up never moves the holder by itself while it lives.
  const holder =
    options.packageDataHost ??
    inState.packageDataHost ??
    (await readInventory(config))?.packageDataHost;
  const { target, targetName } = config;
  const hostPlan = planHosts({
    target: targetName,
    managers: target.managers,
    workers: target.workers,
    existing: inState.names,
    ...(options.remove ? { remove: options.remove } : {}),
    ...(options.replace ? { replace: options.replace } : {}),
    ...(holder ? { packageDataHost: holder } : {}),
  });
  const aptRepositoryPath =
    target.provider === "local"
      ? await localAgentRepository(options.env ?? process.env)
      : undefined;
  const varSet = {
    ...planVarSet(targetName, target, hostPlan, {
      sshPublicKey,
      dnsRecords: dnsRecords(config),
      ...(options.tags ? { tags: options.tags } : {}),
      ...(aptRepositoryPath ? { aptRepositoryPath } : {}),
    }),
    ...options.extraVars,
  };
  await writeVarFile(tf.workDir, varSet);
  return { tf, hostPlan, varSet };
}

/**
 * The local target's signed apt repository of the pinned agents (its `<target>-apt` container
 * serves it), refused before any change when src/tools/install.sh has not built it.
 */
async function localAgentRepository(env: NodeJS.ProcessEnv): Promise<string> {
  const versions = { nomad: await pinnedVersion("nomad"), consul: await pinnedVersion("consul") };
  const dir = localAgentRepositoryDir(toolCacheDir(env), versions);
  const signed = await Promise.all(
    ["bookworm", "bookworm-security"].map((suite) => access(`${dir}/dists/${suite}/InRelease`)),
  ).then(
    () => true,
    () => false,
  );
  if (!signed)
    throw new OperationError(
      `the local apt repository of nomad ${versions.nomad} and consul ${versions.consul} is missing (${dir})`,
      "build it: bash src/tools/install.sh --only tools (or bash src/tools/agents-apt.sh)",
    );
  return dir;
}

/** The inventory bring-up records (writeInventory) from the modules' `hosts`/`load_balancer`. */
export function inventoryFromOutputs(
  targetName: string,
  outputs: Record<string, unknown>,
): Inventory {
  const { hosts, loadBalancer, acme, packageData, dns } = parseClusterOutputs(outputs);
  const order = (name: string) => parseHostName(targetName, name);
  const names = Object.keys(hosts).sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x && y ? x.role.localeCompare(y.role) || x.n - y.n : a.localeCompare(b);
  });
  return {
    target: targetName,
    hosts: names.map((name) => ({
      name,
      role: hosts[name]!.role,
      privateAddress: hosts[name]!.privateIp,
      ssh: { host: hosts[name]!.sshHost, port: hosts[name]!.sshPort },
    })),
    loadBalancer,
    ...(acme ? { acme } : {}),
    ...(packageData
      ? { packageDataHost: packageData.host, packageDataDevice: packageData.device }
      : {}),
    ...(dns ? { dns } : {}),
  };
}

/** The configuration with other host counts (for one phase of a change), the rest the same. */
export function withCounts(config: LoadedConfig, counts: HostCounts): LoadedConfig {
  return { ...config, target: { ...config.target, ...counts } };
}

/** The counts of the hosts an inventory records. */
export const countsOf = (inventory: Inventory): HostCounts => ({
  managers: managersOf(inventory).length,
  workers: workersOf(inventory).length,
});
