import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Target } from "../config/schema.js";

/**
 * Where a target's files are, resolved once for every consumer (the SSH tunnel, image shipping,
 * OpenTofu's variables, Ansible): `~` is the user's home, a relative path is relative to the
 * folder of cluster.yaml.
 */
export interface TargetPaths {
  privateKey: string;
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
  config: { root: string; targetName: string; target: Pick<Target, "ssh"> },
  home = homedir(),
): TargetPaths {
  const at = (path: string) => resolvePath(config.root, path, home);
  const privateKey = at(config.target.ssh.privateKey);
  return {
    privateKey,
    publicKey: `${privateKey}.pub`,
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
