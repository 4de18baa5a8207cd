/**
 * The cluster's own secrets: gossip keys and ACL tokens that elm-infra generates once, before any
 * agent starts, and keeps in secrets/<target>.yaml. Pure: the random values come from the caller.
 */
import type { Secrets } from "../config/schema.js";

/** What bring-up generates (and destroy forgets), in the order they are reported. */
export const clusterSecretFields = [
  "consulGossipKey",
  "nomadGossipKey",
  "consulToken",
  "consulAgentToken",
  "consulNomadToken",
  "consulTraefikToken",
  "nomadToken",
] as const;
export type ClusterSecretField = (typeof clusterSecretFields)[number];

/**
 * The local target's registry credentials: its registry is the target's own (iac/local), so
 * bring-up generates them too, and destroy forgets them with the registry. Elsewhere they are
 * the user's (DigitalOcean's token), never generated.
 */
export const localRegistrySecretFields = ["registryUsername", "registryPassword"] as const;
export type GeneratedSecretField = ClusterSecretField | (typeof localRegistrySecretFields)[number];

const gossipKeys: ReadonlySet<ClusterSecretField> = new Set(["consulGossipKey", "nomadGossipKey"]);

export interface SecretGenerators {
  /** A random UUID (an ACL SecretID). */
  uuid(): string;
  /** 32 random bytes in base64 (a gossip encryption key). */
  gossipKey(): string;
  /** The local registry's user name (distinctive: the secrets audit searches for it). */
  registryUsername?(): string;
  /** The local registry's password. */
  registryPassword?(): string;
}

export interface SecretsOptions {
  /** The target runs its own registry (the local target): its credentials are generated too. */
  localRegistry?: boolean;
}

export interface SecretsPlan {
  /** The secrets file's new content: what it held, plus what was generated. */
  file: Secrets;
  /** Fields generated now; empty when the file (or the environment) had them all. */
  generated: GeneratedSecretField[];
  /** Every cluster secret, whichever source it came from. */
  effective: Secrets & Required<Pick<Secrets, ClusterSecretField>>;
}

/**
 * Fills in the cluster secrets that neither the file nor the environment supplies. A value that
 * exists is never replaced: a second run reuses the first run's tokens, so an interrupted ACL
 * bootstrap resumes with the same management token.
 */
export function planClusterSecrets(
  fromFile: Secrets,
  effective: Secrets,
  generate: SecretGenerators,
  options: SecretsOptions = {},
): SecretsPlan {
  const file: Secrets = { ...fromFile };
  const all: Secrets = { ...effective };
  const generated: GeneratedSecretField[] = [];
  for (const field of clusterSecretFields) {
    if (all[field] !== undefined) continue;
    const value = gossipKeys.has(field) ? generate.gossipKey() : generate.uuid();
    file[field] = value;
    all[field] = value;
    generated.push(field);
  }
  for (const field of options.localRegistry ? localRegistrySecretFields : []) {
    if (all[field] !== undefined) continue;
    const make = generate[field];
    if (!make) throw new Error(`planClusterSecrets: no generator for ${field}`);
    file[field] = all[field] = make();
    generated.push(field);
  }
  return { file, generated, effective: all as SecretsPlan["effective"] };
}

/** The secrets file after destroy: the cluster's own secrets gone, the user's (API tokens) kept. */
export function forgetClusterSecrets(fromFile: Secrets, options: SecretsOptions = {}): Secrets {
  const kept: Secrets = { ...fromFile };
  for (const field of clusterSecretFields) delete kept[field];
  for (const field of options.localRegistry ? localRegistrySecretFields : []) delete kept[field];
  return kept;
}
