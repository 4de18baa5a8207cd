import { readFile, stat, mkdir, writeFile, chmod } from "node:fs/promises";
import { dirname, join, resolve, relative } from "node:path";
import { ConfigError, UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { registerSecret } from "../output/redact.js";
import { lookUp } from "./lookup.js";
import { parseCluster, parseSecrets, parseYaml } from "./parse.js";
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
}

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
};

export async function readClusterFile(file: string): Promise<Cluster> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new ConfigError(
      [{ file, path: "", message: "cannot read the file" }],
      "run from the repository root or pass --config <path to cluster.yaml>",
    );
  }
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
    fromFile = parseSecrets(parseYaml(await readFile(file, "utf8"), file), file);
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

export async function loadConfig(options: LoadOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = resolve(options.file ?? env.ELM_INFRA_CONFIG ?? "cluster.yaml");
  const root = dirname(file);
  const cluster = await readClusterFile(file);
  const [targetName, target] = pickTarget(cluster, file, options.target ?? env.ELM_INFRA_TARGET);
  const secrets = await readSecrets(root, targetName, env);
  return { root, file, cluster, targetName, target, secrets, services: cluster.services };
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
