/** Ties a loaded configuration to a ready TerraformRunner: the glue commands use. */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { targetPaths } from "./paths.js";
import type { LoadedConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";
import { findBinary, findCliConfig, toolCacheDir } from "../terraform/binary.js";
import type { TerraformEvent } from "../terraform/events.js";
import { prepareWorkDir, TerraformRunner, workDirFor } from "../terraform/runner.js";
import {
  computeVarSet,
  moduleDirFor,
  secretVarEnv,
  type TfVarSet,
  type VarSetInputs,
} from "../terraform/vars.js";

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
    return (await readFile(file, "utf8")).trim();
  } catch {
    throw new ConfigError(
      [{ file, path: "", message: "cannot read the SSH public key" }],
      `create the key pair: ssh-keygen -t ed25519 -N '' -f ${privateKey}`,
    );
  }
}

export interface OpenTerraformOptions {
  onEvent?: (event: TerraformEvent) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Overrides the computed inputs (allowed SSH ranges, loopback SSH base port...). */
  inputs?: Partial<VarSetInputs>;
  /** Variables set on top of the computed var set; never a secret. */
  extraVars?: TfVarSet;
}

/** Finds the program, prepares .elm-infra/<target>/terraform and returns a runner for it. */
export async function openTerraform(
  config: LoadedConfig,
  options: OpenTerraformOptions = {},
): Promise<TerraformRunner> {
  const env = options.env ?? process.env;
  const cacheDir = toolCacheDir(env);
  const sshPublicKey = options.inputs?.sshPublicKey ?? (await readSshPublicKey(config));
  const varSet = {
    ...computeVarSet(config.targetName, config.target, { ...options.inputs, sshPublicKey }),
    ...options.extraVars,
  };
  const secretEnv = secretVarEnv(config.targetName, config.target, config.secrets);
  const binary = await findBinary(config.cluster.terraform.binary, { cacheDir, env });
  const workDir = workDirFor(config.root, config.targetName);
  await prepareWorkDir(moduleDir(config.target.provider), workDir, varSet);
  const cliConfigFile = await findCliConfig(cacheDir);
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
