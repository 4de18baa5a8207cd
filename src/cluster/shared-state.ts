/**
 * What a target's operators share through its store besides the lock and OpenTofu's state
 * (docs/shared-state.md): the generated cluster secrets, only encrypted with age to every
 * operator listed in cluster.yaml, and the files bring-up writes (the inventory, the pinned host
 * keys, the trusted roots) under `files/`. A working copy follows the store's files when it loads
 * (syncSharedFiles), and puts its own there after what wrote them.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
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
import {
  judgeSharedFile,
  parseSharedFilesRecord,
  sha256OfText,
  type SharedFilesRecord,
} from "../plan/shared-files.js";
import type { StoreClient } from "../store/client.js";
import { inventoryPath } from "./inventory.js";
import { targetPaths } from "./paths.js";
import { storeClientOf, storeKeyEnv } from "./store.js";

type TargetConfig = Pick<LoadedConfig, "root" | "file" | "targetName" | "target">;

/** A file bring-up writes on this machine, and its copy's key in the store. */
export interface SharedFile {
  key: string;
  path: string;
}

/** The local target's SSH public key's copy in the store. */
export const sharedTargetKeyKey = "files/ssh-key.pub";
/** The inventory and its copy in the store (written through when the package data moves). */
const sharedInventory = (config: TargetConfig): SharedFile => ({
  key: "files/inventory.json",
  path: inventoryPath(config),
});

/**
 * The inventory, the pinned host keys and the trusted roots (Pebble's, the local registry's); on
 * the local target also the public half of the key bring-up made (OpenTofu gives it to every
 * host): another operator's bring-up or scale plans with the same key, never a new one.
 */
export function sharedFiles(config: TargetConfig): SharedFile[] {
  const paths = targetPaths(config);
  return [
    sharedInventory(config),
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

/** Where a working copy records the SHA-256 of each shared file as last exchanged with the store. */
export const sharedFilesRecordPath = (config: TargetConfig) =>
  join(targetPaths(config).state, "store-files.json");

async function readRecord(config: TargetConfig): Promise<SharedFilesRecord> {
  return parseSharedFilesRecord(
    await readUserFile(sharedFilesRecordPath(config), fileLimits("store-files.json")),
  );
}

async function writeRecord(config: TargetConfig, record: SharedFilesRecord): Promise<void> {
  const file = sharedFilesRecordPath(config);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.partial`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.partial`, file);
}

const readShared = (file: SharedFile) => readUserFile(file.path, fileLimits(file.key));

/**
 * Makes the store's copies this machine's: each shared file it has put there, each it has not
 * (destroy removed it, or it was never made) deleted there; the record says so. Run after what
 * wrote them, under the operations lock.
 */
export async function pushSharedFiles(
  client: StoreClient,
  config: TargetConfig,
): Promise<{ put: string[]; deleted: string[] }> {
  const put: string[] = [];
  const deleted: string[] = [];
  const record = await readRecord(config);
  for (const file of sharedFiles(config)) {
    const text = await readShared(file);
    if (text === undefined) {
      await client.delete(file.key);
      delete record[file.key];
      deleted.push(file.key);
    } else {
      await client.put(file.key, text);
      record[file.key] = sha256OfText(text);
      put.push(file.key);
    }
  }
  await writeRecord(config, record);
  return { put, deleted };
}

/**
 * The inventory just written here put in the store at once (a move of the package data in a
 * reboot, an upgrade or a drain changes its holder), so that another operator never plans with
 * the old one; a target without a store has nothing to share.
 */
export async function shareInventory(config: TargetConfig, env: NodeJS.ProcessEnv): Promise<void> {
  if (!config.target.store) return;
  const file = sharedInventory(config);
  const text = await readShared(file);
  if (text === undefined) return;
  const client = storeClientOf(config, env);
  try {
    await client.put(file.key, text);
  } finally {
    client.close();
  }
  await writeRecord(config, { ...(await readRecord(config)), [file.key]: sha256OfText(text) });
}

/** What loading did with each shared file (cluster/shared-state.ts's syncSharedFiles). */
export interface SharedFilesSync {
  /** Paths written here that were missing. */
  fetched: string[];
  /** Paths taken from the store: another operator changed them there. */
  refreshed: string[];
  /** Paths removed here: gone from the store (destroy forgot them), unchanged here. */
  removed: string[];
  /** Paths kept though the store holds others: changed here since this copy last shared them. */
  kept: string[];
}

/**
 * Each shared file made to follow the store (plan/shared-files.ts judges each): fetched when
 * missing here, refreshed or removed when unchanged here since the last exchange, kept when
 * changed here since; the record updated.
 */
export async function syncSharedFiles(
  client: StoreClient,
  config: TargetConfig,
): Promise<SharedFilesSync> {
  const record = await readRecord(config);
  const before = JSON.stringify(record);
  const files = sharedFiles(config);
  const [here, stored] = await Promise.all([
    Promise.all(files.map(readShared)),
    Promise.all(files.map((f) => client.get(f.key))),
  ]);
  const sync: SharedFilesSync = { fetched: [], refreshed: [], removed: [], kept: [] };
  for (const [i, file] of files.entries()) {
    const text = here[i];
    const object = stored[i];
    const hashes = {
      ...(text !== undefined ? { here: sha256OfText(text) } : {}),
      ...(record[file.key] ? { recorded: record[file.key] } : {}),
      ...(object ? { stored: sha256OfText(object.body) } : {}),
    };
    const action = judgeSharedFile(hashes);
    if (action === "keep") {
      // said only where the store holds another: one it lacks is this copy's to share next
      if (object) sync.kept.push(file.path);
      continue;
    }
    if (action === "remove") {
      await rm(file.path, { force: true });
      delete record[file.key];
      sync.removed.push(file.path);
      continue;
    }
    if (action === "fetch" || action === "refresh") {
      await mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
      await writeFile(`${file.path}.partial`, object!.body, { mode: 0o600 });
      await rename(`${file.path}.partial`, file.path);
      (action === "fetch" ? sync.fetched : sync.refreshed).push(file.path);
    }
    if (hashes.stored) record[file.key] = hashes.stored;
  }
  // nothing written here when nothing changed (a command refused by the lock leaves no trace)
  if (JSON.stringify(record) !== before) await writeRecord(config, record);
  return sync;
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
 * environment's and the secrets file's (when those lack any), and the shared files made to
 * follow the store's (syncSharedFiles). A target without a store is not asked.
 */
export async function completeFromStore(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv,
): Promise<{
  config: LoadedConfig;
  fetched: string[];
  files: SharedFilesSync | undefined;
  /** Why the files here were not compared with the store's, when they were not. */
  notCompared?: string;
}> {
  if (!config.target.store) return { config, fetched: [], files: undefined };
  const wantSecrets = lacksClusterSecrets(config.secrets);
  // A copy with the cluster secrets can still work without the store's key (a command that
  // takes no lock): it says its files were not compared, rather than refusing.
  if (!wantSecrets && !(env[storeKeyEnv.id] && env[storeKeyEnv.secret]))
    return {
      config,
      fetched: [],
      files: undefined,
      notCompared: `${storeKeyEnv.id} and ${storeKeyEnv.secret} are not both set: this copy's inventory, host keys and roots were not compared with the store's of target ${config.targetName}`,
    };
  const client = storeClientOf(config, env);
  try {
    const stored = wantSecrets ? await readStoredSecrets(client, config, env) : undefined;
    const files = await syncSharedFiles(client, config);
    return {
      config: stored ? { ...config, secrets: { ...stored, ...config.secrets } } : config,
      fetched: [...(stored ? ["the cluster secrets"] : []), ...files.fetched],
      files,
    };
  } finally {
    client.close();
  }
}
