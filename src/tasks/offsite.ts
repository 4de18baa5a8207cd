/**
 * Off-site copies (issue 23): `backup` copies each service backup and each cluster snapshot pair
 * (already encrypted with age) from this machine to the target's store, with the SHA-256 of each
 * file as the object's metadata, and lets go of the copies beyond the retention
 * (store.keepBackups); `restore --from-store` brings one back here, checked against that SHA-256
 * and size before anything uses it.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { OperationError } from "../errors.js";
import {
  backupKey,
  chooseClusterCopiesToRemove,
  chooseServiceCopiesToRemove,
  clusterBackupsPrefix,
  clusterSnapshotKey,
  serviceBackupsPrefix,
  sha256Metadata,
  type RetentionChoice,
} from "../plan/offsite.js";
import type { StoreClient } from "../store/client.js";

type Log = (line: string) => void;

/** What `backup` says of its off-site copy; null in a result when the target has no store. */
export interface OffsiteCopy {
  /** The store, as messages name it (s3://bucket/prefix at endpoint). */
  store: string;
  /** The copy's key (a pair's folder for the cluster), relative to the target's prefix. */
  key: string;
  /** The copies of this kind the store keeps now, and the keys just deleted (the oldest). */
  kept: number;
  removed: string[];
}

/** The hex SHA-256 of a file, read as a stream. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

async function uploadWithChecksum(client: StoreClient, key: string, file: string): Promise<void> {
  await client.upload(key, file, { [sha256Metadata]: await sha256OfFile(file) });
}

async function removeBeyondRetention(
  client: StoreClient,
  choice: RetentionChoice,
  log: Log,
): Promise<string[]> {
  for (const key of choice.remove) await client.delete(key);
  if (choice.remove.length > 0)
    log(
      `the store's older copies deleted (beyond the ${choice.kept.length} kept): ${choice.remove.join(", ")}`,
    );
  return choice.remove;
}

/** A service's backup file copied to `backups/<service>/<file>`, then the retention applied. */
export async function copyBackupToStore(
  client: StoreClient,
  o: { service: string; file: string; keep: number; log: Log },
): Promise<OffsiteCopy> {
  const key = backupKey(o.service, o.file);
  await uploadWithChecksum(client, key, o.file);
  o.log(`copied to the store as ${key}`);
  const choice = chooseServiceCopiesToRemove(
    o.service,
    await client.list(serviceBackupsPrefix(o.service)),
    o.keep,
  );
  const removed = await removeBeyondRetention(client, choice, o.log);
  return { store: client.name, key, kept: choice.kept.length, removed };
}

/** A cluster snapshot pair copied to `backups/cluster/<name>/`, then the retention applied. */
export async function copyClusterSnapshotToStore(
  client: StoreClient,
  o: { name: string; files: readonly string[]; keep: number; log: Log },
): Promise<OffsiteCopy> {
  for (const file of o.files)
    await uploadWithChecksum(client, clusterSnapshotKey(o.name, file), file);
  const key = `${clusterBackupsPrefix}${o.name}/`;
  o.log(`copied to the store under ${key}`);
  const choice = chooseClusterCopiesToRemove(await client.list(clusterBackupsPrefix), o.keep);
  const removed = await removeBeyondRetention(client, choice, o.log);
  return { store: client.name, key, kept: choice.kept.length, removed };
}

/**
 * The copy under `key` brought into `dir` under its own name, kept only when its size and
 * SHA-256 are those written with it at upload; otherwise refused, and no file left.
 */
export async function fetchBackupFromStore(
  client: StoreClient,
  o: { key: string; dir: string },
): Promise<{ file: string; bytes: number; sha256: string }> {
  const file = join(o.dir, o.key.split("/").pop()!);
  let sha256 = "";
  const head = await client.download(o.key, file, async (aside, head) => {
    const expected = head.metadata[sha256Metadata];
    if (!expected)
      throw new OperationError(
        `the store's ${o.key} has no SHA-256 recorded with it: not a copy elm-infra made; it was not used`,
        "restore another copy (restore --from-store <file>), or one on this machine",
      );
    const bytes = (await stat(aside)).size;
    sha256 = await sha256OfFile(aside);
    if (bytes !== head.bytes || sha256 !== expected)
      throw new OperationError(
        `the store's ${o.key} is damaged: ${bytes} bytes with SHA-256 ${sha256}, where ${head.bytes} bytes with SHA-256 ${expected} were copied there; it was not used and nothing was restored`,
        "restore another copy (restore --from-store <file>), or one on this machine",
      );
  });
  return { file, bytes: head.bytes, sha256 };
}
