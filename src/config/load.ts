import { stat, mkdir, writeFile, chmod } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve, relative } from "node:path";
import { ConfigError, FileRefusedError, UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { registerSecret } from "../output/redact.js";
import { lookUp } from "./lookup.js";
import { parseCluster, parseSecrets, parseYaml, yamlLimits } from "./parse.js";
import { readUserFile, type ReadLimits } from "./read-file.js";
import type { Cluster, Secrets, Service, Target } from "./schema.js";

export interface LoadedConfig {
  /** Folder of cluster.yaml; relative paths in it resolve against this. */
  root: string;
  file: string;
  cluster: Cluster;
  targetName: string;
  target: Target;
  secrets: Secrets;
  services: Record<string, Service>;
  /**
   * This operator's own SSH private key (ELM_INFRA_SSH_KEY_FILE, absolute), used to log in to
   * the hosts instead of ssh.privateKey: on a machine that did not make the target's key.
   */
  sshKeyFile?: string;
}

/** The variable naming this operator's SSH private key (see LoadedConfig.sshKeyFile). */
export const sshKeyFileEnv = "ELM_INFRA_SSH_KEY_FILE";

export interface LoadOptions {
  file?: string;
  target?: string;
  env?: NodeJS.ProcessEnv;
}

/** Environment variables that supply secrets, by field. The first one set wins. */
export const secretEnv: Record<keyof Secrets, string[]> = {
  digitaloceanToken: ["ELM_INFRA_DIGITALOCEAN_TOKEN", "DIGITALOCEAN_TOKEN"],
  registryUsername: ["ELM_INFRA_REGISTRY_USERNAME"],
  registryPassword: ["ELM_INFRA_REGISTRY_PASSWORD"],
  nomadToken: ["ELM_INFRA_NOMAD_TOKEN", "NOMAD_TOKEN"],
  consulToken: ["ELM_INFRA_CONSUL_TOKEN", "CONSUL_HTTP_TOKEN"],
  consulAgentToken: ["ELM_INFRA_CONSUL_AGENT_TOKEN"],
  consulNomadToken: ["ELM_INFRA_CONSUL_NOMAD_TOKEN"],
  consulTraefikToken: ["ELM_INFRA_CONSUL_TRAEFIK_TOKEN"],
  consulGossipKey: ["ELM_INFRA_CONSUL_GOSSIP_KEY"],
  nomadGossipKey: ["ELM_INFRA_NOMAD_GOSSIP_KEY"],
  clusterSnapshotIdentity: ["ELM_INFRA_CLUSTER_SNAPSHOT_IDENTITY"],
  notifyWebhookUrl: ["ELM_INFRA_NOTIFY_WEBHOOK_URL"],
};

/** Reads a configuration or secrets file once, bounded; a refusal is a configuration problem. */
async function readConfigText(file: string, limits: ReadLimits): Promise<string> {
  try {
    return await readUserFile(file, limits);
  } catch (error) {
    if (!(error instanceof FileRefusedError)) throw error;
    throw new ConfigError([{ file, path: "", message: error.reason }], error.hint);
  }
}

export async function readClusterFile(file: string): Promise<Cluster> {
  const text = await readConfigText(file, {
    what: "configuration file",
    maxBytes: yamlLimits.maxBytes,
    hint: "run from the repository root or pass --config <path to cluster.yaml>",
  });
  return parseCluster(parseYaml(text, file), file);
}

export function secretsPath(root: string, target: string): string {
  return join(root, "secrets", `${target}.yaml`);
}

/** Reads secrets/<target>.yaml (refused unless mode 0600) and overlays the environment. */
export async function readSecrets(
  root: string,
  target: string,
  env: NodeJS.ProcessEnv,
): Promise<Secrets> {
  const file = secretsPath(root, target);
  let fromFile: Secrets = {};
  // stat follows a symlink and never opens: a FIFO here is refused by the reader, not waited on
  const info = await stat(file).catch(() => undefined);
  if (info) {
    if ((info.mode & 0o077) !== 0) {
      throw new ConfigError(
        [
          {
            file,
            path: "",
            message: `mode is ${(info.mode & 0o777).toString(8)}; secrets must be readable by you only`,
          },
        ],
        `run: chmod 600 ${relative(process.cwd(), file) || file}`,
      );
    }
    const text = await readConfigText(file, {
      what: "secrets file",
      maxBytes: 64_000,
      hint: `secrets/${target}.yaml holds a few tokens: make it a small YAML file`,
    });
    fromFile = parseSecrets(parseYaml(text, file), file);
  }
  const fromEnv: Record<string, string> = {};
  const variableOf = new Map<string, string>();
  for (const [field, names] of Object.entries(secretEnv)) {
    const name = names.find((n) => env[n] !== undefined && env[n] !== "");
    if (name !== undefined) {
      fromEnv[field] = env[name]!;
      variableOf.set(field, name);
    }
  }
  const secrets = { ...fromFile, ...parseEnvSecrets(fromEnv, variableOf) };
  for (const value of Object.values(secrets)) if (typeof value === "string") registerSecret(value);
  return secrets;
}

/** A bad value from the environment names the variable it came from (never the value). */
function parseEnvSecrets(
  fromEnv: Record<string, string>,
  variableOf: ReadonlyMap<string, string>,
): Secrets {
  try {
    return parseSecrets(fromEnv, "environment");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problems = error.problems.map((p) => ({ ...p, path: variableOf.get(p.path) ?? p.path }));
    throw new ConfigError(problems, "fix or unset the variable above and run again");
  }
}

/** Writes secrets/<target>.yaml with mode 0600: the only file secrets are ever written to. */
export async function writeSecrets(
  root: string,
  target: string,
  secrets: Secrets,
): Promise<string> {
  const file = secretsPath(root, target);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const lines = Object.entries(secrets)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  await writeFile(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

export function pickTarget(
  cluster: Cluster,
  file: string,
  name: string | undefined,
): [string, Target] {
  const names = Object.keys(cluster.targets);
  if (name === "")
    throw new UsageError(
      "--target was given an empty name",
      `pass one of ${names.join(", ")}, or leave --target out for ${cluster.defaultTarget ?? "the default"}`,
    );
  const chosen = name ?? cluster.defaultTarget ?? (names.length === 1 ? names[0] : undefined);
  if (!chosen) {
    throw new UsageError(
      `several targets are configured (${names.join(", ")}) and none was chosen`,
      "pass --target <name> or set ELM_INFRA_TARGET",
    );
  }
  const target = lookUp(cluster.targets, chosen);
  if (!target) {
    throw new UsageError(
      `unknown target ${quote(chosen)} in ${file}`,
      `known targets: ${names.join(", ")}`,
    );
  }
  return [chosen, target];
}

/** The configuration file's path: --config, else ELM_INFRA_CONFIG (unless empty), else ./cluster.yaml. */
export function configPath(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(file ?? (env.ELM_INFRA_CONFIG || "cluster.yaml"));
}

/**
 * The target's name: --target as given (an empty one is refused by pickTarget), else
 * ELM_INFRA_TARGET unless it is empty (an exported-but-empty variable means "not set").
 */
export function targetNameOf(
  target: string | undefined,
  env: NodeJS.ProcessEnv,
): string | undefined {
  return target ?? (env.ELM_INFRA_TARGET || undefined);
}

export async function loadConfig(
  options: LoadOptions & { cluster?: Promise<Cluster> } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = configPath(options.file, env);
  const root = dirname(file);
  // read once: a command that read cluster.yaml to check its arguments hands it on
  const cluster = await (options.cluster ?? readClusterFile(file));
  const [targetName, target] = pickTarget(cluster, file, targetNameOf(options.target, env));
  const secrets = await readSecrets(root, targetName, env);
  const keyFile = env[sshKeyFileEnv];
  // `~/` as a shell expands it; else relative to where the command runs, as a variable's path is
  const sshKeyFile = keyFile?.startsWith("~/")
    ? join(homedir(), keyFile.slice(2))
    : keyFile
      ? resolve(keyFile)
      : undefined;
  return {
    root,
    file,
    cluster,
    targetName,
    target,
    secrets,
    services: cluster.services,
    ...(sshKeyFile ? { sshKeyFile } : {}),
  };
}

/** Hostnames of a service on a target: the target's override or the service's own. */
export function hostnamesOf(
  config: Pick<LoadedConfig, "target" | "services">,
  service: string,
): string[] {
  return (
    lookUp(config.target.domains, service) ?? lookUp(config.services, service)?.hostnames ?? []
  );
}
