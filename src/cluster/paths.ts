import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Target } from "../config/schema.js";

/**
 * Where a target's files are, resolved once for every consumer (the SSH tunnel, image shipping,
 * OpenTofu's variables, Ansible): `~` is the user's home, a relative path is relative to the
 * folder of cluster.yaml. An operator who is not the one that made the target's key logs in with
 * their own (`sshKeyFile`, from ELM_INFRA_SSH_KEY_FILE: the key whose public half is their
 * operators[].sshKey); the target's key stays the one OpenTofu and authorized_keys name.
 */
export interface TargetPaths {
  /** The key this machine logs in to the hosts with: ELM_INFRA_SSH_KEY_FILE's, else targetKey. */
  privateKey: string;
  /** The target's own key (ssh.privateKey): the one bring-up makes on the local target. */
  targetKey: string;
  /** Its public half, `<ssh.privateKey>.pub`: OpenTofu's, and always authorised on the hosts. */
  publicKey: string;
  knownHosts: string;
  secrets: string;
  /** The target's working folder for generated files (inventory, state): `.elm-infra/<target>`. */
  state: string;
  /** The CA certificates (PEM) HTTPS answers are verified against; absent: the system's roots. */
  trustedCa: string;
  /** The local registry's CA (PEM), read from its container by bring-up. */
  registryCa: string;
}

export function targetPaths(
  config: { root: string; targetName: string; target: Pick<Target, "ssh">; sshKeyFile?: string },
  home = homedir(),
): TargetPaths {
  const at = (path: string) => resolvePath(config.root, path, home);
  const targetKey = at(config.target.ssh.privateKey);
  return {
    privateKey: config.sshKeyFile ?? targetKey,
    targetKey,
    publicKey: `${targetKey}.pub`,
    knownHosts: at(config.target.ssh.knownHosts),
    secrets: join(config.root, "secrets", `${config.targetName}.yaml`),
    state: join(config.root, ".elm-infra", config.targetName),
    trustedCa: join(config.root, ".elm-infra", config.targetName, "ca.pem"),
    registryCa: join(config.root, ".elm-infra", config.targetName, "registry-ca.pem"),
  };
}

/** A path from cluster.yaml: `~/x` as in a shell, relative paths against `root`. */
export function resolvePath(root: string, path: string, home = homedir()): string {
  return resolve(root, expandHome(path, home));
}

/** `~/x` as in a shell; other paths unchanged. */
export function expandHome(path: string, home = homedir()): string {
  if (path === "~") return home;
  return path.startsWith("~/") ? resolve(home, path.slice(2)) : path;
}
