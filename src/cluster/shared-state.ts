/**
 * What a target's operators share through its store besides the lock and OpenTofu's state
 * (docs/shared-state.md): the generated cluster secrets, only encrypted with age to every
 * operator listed in cluster.yaml, and the files bring-up writes (the inventory, the pinned host
 * keys, the trusted roots) under `files/`. A working copy that lacks them reads them from there.
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { AgeIdentityRefused, decryptWithIdentity, encryptToRecipients } from "../age/client.js";
import type { LoadedConfig } from "../config/load.js";
import { parseSecrets } from "../config/parse.js";
import { readUserFile } from "../config/read-file.js";
import type { Secrets } from "../config/schema.js";
import { ConfigError, OperationError, UsageError } from "../errors.js";
import { registerSecret } from "../output/redact.js";
import {
  ageIdentityEnv,
  ageIdentitySource,
  badRecipients,
  explainRefusedIdentity,
  judgeSecretsUpload,
  lacksClusterSecrets,
  operatorRecipients,
  parseEnvelope,
  recipientsOfIdentity,
  renderEnvelope,
  sharedSecretsKey,
  sharedSecretsOf,
  type SecretsEnvelope,
  type SecretsUpload,
} from "../plan/shared-secrets.js";
import type { StoreClient } from "../store/client.js";
import { inventoryPath } from "./inventory.js";
import { targetPaths } from "./paths.js";
import { storeClientOf } from "./store.js";

type TargetConfig = Pick<LoadedConfig, "root" | "file" | "targetName" | "target">;

/** A file bring-up writes on this machine, and its copy's key in the store. */
export interface SharedFile {
  key: string;
  path: string;
}

/** The local target's SSH public key's copy in the store. */
export const sharedTargetKeyKey = "files/ssh-key.pub";

/**
 * The inventory, the pinned host keys and the trusted roots (Pebble's, the local registry's); on
 * the local target also the public half of the key bring-up made (OpenTofu gives it to every
 * host): another operator's bring-up or scale plans with the same key, never a new one.
 */
export function sharedFiles(config: TargetConfig): SharedFile[] {
  const paths = targetPaths(config);
  return [
    { key: "files/inventory.json", path: inventoryPath(config) },
    { key: "files/known_hosts", path: paths.knownHosts },
    { key: "files/ca.pem", path: paths.trustedCa },
    { key: "files/registry-ca.pem", path: paths.registryCa },
    ...(config.target.provider === "local"
      ? [{ key: sharedTargetKeyKey, path: paths.publicKey }]
      : []),
  ];
}

const fileLimits = (what: string) => ({
  what,
  maxBytes: 1_000_000,
  ifMissing: undefined,
  hint: "check the file's permissions (bring-up writes it for the user who ran it)",
});

/**
 * Makes the store's copies this machine's: each shared file it has put there, each it has not
 * (destroy removed it, or it was never made) deleted there. Run after what wrote them, under the
 * operations lock; a working copy lacking one fetched it from the store when it loaded.
 */
export async function pushSharedFiles(
  client: StoreClient,
  config: TargetConfig,
): Promise<{ put: string[]; deleted: string[] }> {
  const put: string[] = [];
  const deleted: string[] = [];
  for (const file of sharedFiles(config)) {
    const text = await readUserFile(file.path, fileLimits(file.key));
    if (text === undefined) {
      await client.delete(file.key);
      deleted.push(file.key);
    } else {
      await client.put(file.key, text);
      put.push(file.key);
    }
  }
  return { put, deleted };
}

/** Fetches each shared file this machine lacks and the store has; gives the paths written. */
export async function pullMissingFiles(
  client: StoreClient,
  config: TargetConfig,
): Promise<string[]> {
  const written: string[] = [];
  for (const file of await missingFiles(config)) {
    const object = await client.get(file.key);
    if (!object) continue;
    await mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
    await writeFile(file.path, object.body, { mode: 0o600, flag: "wx" });
    written.push(file.path);
  }
  return written;
}

async function missingFiles(config: TargetConfig): Promise<SharedFile[]> {
  const present = await Promise.all(
    sharedFiles(config).map((f) =>
      stat(f.path).then(
        () => true,
        () => false,
      ),
    ),
  );
  return sharedFiles(config).filter((_, i) => !present[i]);
}

/** The envelope in the store, or undefined when there is none. */
async function readEnvelope(client: StoreClient): Promise<SecretsEnvelope | undefined> {
  const object = await client.get(sharedSecretsKey);
  if (!object) return undefined;
  const envelope = parseEnvelope(object.body);
  if ("problem" in envelope)
    throw new OperationError(
      `${sharedSecretsKey} in the store ${client.name} ${envelope.problem}`,
      `an operator whose secrets file holds the cluster secrets deletes that object and runs bring-up: it writes it again`,
    );
  return envelope;
}

/**
 * The cluster secrets in the store, decrypted with this operator's age identity; undefined when
 * the store holds none. A missing or wrong identity is a usage error that says what to set.
 */
export async function readStoredSecrets(
  client: StoreClient,
  config: TargetConfig,
  env: NodeJS.ProcessEnv,
): Promise<Secrets | undefined> {
  const envelope = await readEnvelope(client);
  if (!envelope) return undefined;
  const where = `targets.${config.targetName}.operators`;
  const source = ageIdentitySource(env);
  if (!source)
    throw new UsageError(
      `the cluster secrets of target ${config.targetName} are in the store ${client.name}, encrypted with age to its operators, and neither ${ageIdentityEnv.key} nor ${ageIdentityEnv.file} is set`,
      `set ${ageIdentityEnv.file} to your age identity's file (age-keygen -o FILE makes one), and have its recipient (age-keygen -y FILE) listed in ${where} of ${config.file}`,
    );
  const identity =
    source.kind === "key"
      ? source.text
      : await readUserFile(source.path, {
          what: `age identity file (${source.variable})`,
          maxBytes: 64_000,
          hint: `set ${source.variable} to the file age-keygen wrote`,
        });
  // the key lines are secret; age-keygen's comments (its public key, the date) are not
  for (const line of identity.split("\n").map((l) => l.trim()))
    if (line && !line.startsWith("#")) registerSecret(line);
  let plaintext: string;
  try {
    plaintext = await decryptWithIdentity(envelope.age, identity);
  } catch (error) {
    if (!(error instanceof AgeIdentityRefused)) throw error;
    throw new UsageError(
      `the age identity from ${source.variable} cannot read the cluster secrets of target ${config.targetName} in the store ${client.name} (age: ${error.message}); they are encrypted to ${envelope.recipients.length} recipient(s)`,
      explainRefusedIdentity({
        identityRecipients: recipientsOfIdentity(identity),
        listed: operatorRecipients(config.target),
        encryptedTo: envelope.recipients,
        where: `${where} (${source.variable})`,
      }),
    );
  }
  let secrets: Secrets;
  try {
    secrets = parseSecrets(JSON.parse(plaintext), `${sharedSecretsKey} in the store`);
  } catch {
    // never quote the plaintext: it is the secrets
    throw new OperationError(
      `${sharedSecretsKey} in the store ${client.name} decrypts to something that is not the cluster secrets`,
      "an operator whose secrets file holds them deletes that object and runs bring-up",
    );
  }
  const shared = sharedSecretsOf(secrets);
  for (const value of Object.values(shared)) registerSecret(value);
  return shared;
}

/**
 * Encrypts the generated secrets to every listed operator and puts them in the store, when the
 * store has none, this run changed some, or the operators changed (judgeSecretsUpload).
 */
export async function shareSecrets(
  client: StoreClient,
  config: TargetConfig,
  secrets: Secrets,
  changed: readonly string[],
): Promise<SecretsUpload> {
  const bad = badRecipients(config.target);
  if (bad.length > 0)
    throw new ConfigError(
      bad.map((i) => ({
        file: config.file,
        path: `targets.${config.targetName}.operators.${i}.ageRecipient`,
        message: "is not an age X25519 recipient (its checksum is wrong)",
      })),
      "copy the recipient again from age-keygen -y <identity file>",
    );
  const stored = await readEnvelope(client);
  const decision = judgeSecretsUpload({
    stored,
    recipients: operatorRecipients(config.target),
    changed,
  });
  if (!decision.upload) return decision;
  const plaintext = JSON.stringify(sharedSecretsOf(secrets));
  const ciphertext = await encryptToRecipients(plaintext, decision.recipients);
  await client.put(sharedSecretsKey, renderEnvelope(decision.recipients, ciphertext));
  return decision;
}

/**
 * A loaded configuration completed from the target's store: the cluster secrets under the
 * environment's and the secrets file's (when those lack any), and the shared files this machine
 * lacks written to their places. A target without a store, or with nothing missing, is not asked.
 */
export async function completeFromStore(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv,
): Promise<{ config: LoadedConfig; fetched: string[] }> {
  if (!config.target.store) return { config, fetched: [] };
  const wantSecrets = lacksClusterSecrets(config.secrets);
  const missing = await missingFiles(config);
  if (!wantSecrets && missing.length === 0) return { config, fetched: [] };
  const client = storeClientOf(config, env);
  try {
    const stored = wantSecrets ? await readStoredSecrets(client, config, env) : undefined;
    const written = await pullMissingFiles(client, config);
    return {
      config: stored ? { ...config, secrets: { ...stored, ...config.secrets } } : config,
      fetched: [...(stored ? ["the cluster secrets"] : []), ...written],
    };
  } finally {
    client.close();
  }
}
