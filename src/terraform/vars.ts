/**
 * The Terraform variable set of a target: pure, from the target's configuration. Secrets never
 * enter the var set (it is written to a file in the working directory); they reach Terraform as
 * TF_VAR_ environment variables from `secretVarEnv`.
 */
import { ConfigError, type ConfigProblem } from "../errors.js";
import type { Secrets, Target } from "../config/schema.js";

export type TfValue = string | number | boolean | string[] | null;
export type TfVarSet = Record<string, TfValue>;

/** What the var set needs beyond cluster.yaml: read from files by the caller. */
export interface VarSetInputs {
  /** One OpenSSH public key line, e.g. the contents of `<ssh.privateKey>.pub`. */
  sshPublicKey: string;
  /** digitalocean: who may reach port 22; the module defaults to anywhere. */
  sshAllowedCidrs?: string[];
  /** digitalocean: extra droplet tags. */
  tags?: string[];
  /** local: loopback port of the first host's sshd; the module defaults to 2200. */
  sshBasePort?: number;
}

/** The Terraform module folder under iac/ for each provider. */
export function moduleDirFor(provider: Target["provider"]): string {
  return provider === "digitalocean" ? "iac/digitalocean" : "iac/local";
}

/** The iac modules prefix resource names with the target name: DNS-label-like, 32 characters. */
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
  if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+/.test(key)) {
    problems.push({
      file: `${target.ssh.privateKey}.pub`,
      path: "",
      message: "is not an OpenSSH public key line (ssh-ed25519 AAAA...)",
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const common: TfVarSet = {
    name: targetName,
    image: target.image,
    manager_count: target.managers,
    worker_count: target.workers,
    ssh_public_key: key,
  };
  if (target.provider === "digitalocean") {
    return {
      ...common,
      region: target.region,
      manager_size: target.sizes.manager,
      worker_size: target.sizes.worker,
      ssh_port: target.ssh.port,
      ...(inputs.sshAllowedCidrs ? { ssh_allowed_cidrs: inputs.sshAllowedCidrs } : {}),
      ...(inputs.tags ? { tags: inputs.tags } : {}),
    };
  }
  return {
    ...common,
    http_port: target.ports.http,
    https_port: target.ports.https,
    ...(inputs.sshBasePort !== undefined ? { ssh_base_port: inputs.sshBasePort } : {}),
  };
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
