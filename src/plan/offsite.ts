/**
 * Off-site copies, pure: where a backup or a cluster snapshot pair is kept in the target's store,
 * which copies the retention lets go, and which one a restore takes from there.
 */
import type { Target } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { backupTime, newestBackup } from "./package-data.js";
import { snapshotFileName, snapshotFiles, snapshotTime } from "./cluster-snapshots.js";

/** Copies kept in the store when the target's store names no keepBackups. */
export const defaultKeepBackups = 7;

export const keepBackupsOf = (target: Pick<Target, "store">) =>
  target.store?.keepBackups ?? defaultKeepBackups;

/** The metadata name (x-amz-meta-sha256) of a copy's SHA-256, hex, written with it. */
export const sha256Metadata = "sha256";

/** `backups/<service>/`: the folder of a service's copies in the store. */
export const serviceBackupsPrefix = (service: string) => `backups/${service}/`;

/** `backups/cluster/`: the folder of the snapshot pairs (`cluster` is no service's name). */
export const clusterBackupsPrefix = "backups/cluster/";

/** `backups/<service>/<file>`, for the file's own name whatever folder it is in here. */
export const backupKey = (service: string, file: string) =>
  `${serviceBackupsPrefix(service)}${baseName(file)}`;

/** `backups/cluster/<cluster-time>/<system>.snap.age` */
export const clusterSnapshotKey = (name: string, file: string) =>
  `${clusterBackupsPrefix}${name}/${baseName(file)}`;

const baseName = (path: string) => path.split("/").pop() ?? path;

/** A service's copies among `keys`: directly in its folder, named as its backups. */
function serviceCopies(service: string, keys: readonly string[]): string[] {
  const prefix = serviceBackupsPrefix(service);
  return keys.filter((k) => {
    const rest = k.startsWith(prefix) ? k.slice(prefix.length) : undefined;
    return rest !== undefined && !rest.includes("/") && backupTime(service, rest) !== undefined;
  });
}

/** Newest first, by the time in the name (ties: by name, so the answer never depends on order). */
function newestFirst(items: readonly string[], time: (item: string) => Date): string[] {
  return [...items].sort(
    (a, b) => time(b).getTime() - time(a).getTime() || (a < b ? 1 : a > b ? -1 : 0),
  );
}

export interface RetentionChoice {
  /** The copies (a service's files, or the cluster's pair folders) kept, newest first. */
  kept: string[];
  /** The keys to delete, oldest copies last. */
  remove: string[];
}

/**
 * Of a service's copies in the store, the newest `keep` stay and the older go; any key not named
 * as one of its backups (another service's, a stray file) is neither counted nor removed.
 */
export function chooseServiceCopiesToRemove(
  service: string,
  keys: readonly string[],
  keep: number,
): RetentionChoice {
  const sorted = newestFirst(serviceCopies(service, keys), (k) => backupTime(service, k)!);
  return { kept: sorted.slice(0, keep), remove: sorted.slice(keep) };
}

/**
 * Of the cluster's snapshot pairs in the store (`backups/cluster/cluster-<time>/`), the newest
 * `keep` stay; the older pairs' snapshot files go. Other keys are left alone.
 */
export function chooseClusterCopiesToRemove(
  keys: readonly string[],
  keep: number,
): RetentionChoice {
  const files = new Set<string>(snapshotFiles.map(snapshotFileName));
  const pairs = new Map<string, string[]>();
  for (const key of keys) {
    if (!key.startsWith(clusterBackupsPrefix)) continue;
    const parts = key.slice(clusterBackupsPrefix.length).split("/");
    if (parts.length !== 2 || !snapshotTime(parts[0]!) || !files.has(parts[1]!)) continue;
    pairs.set(parts[0]!, [...(pairs.get(parts[0]!) ?? []), key]);
  }
  const sorted = newestFirst([...pairs.keys()], (name) => snapshotTime(name)!);
  return {
    kept: sorted.slice(0, keep),
    remove: sorted.slice(keep).flatMap((name) => pairs.get(name)!.sort()),
  };
}

/**
 * The copy a restore takes from the store: the one named (its file name, or its key), else the
 * newest of the service's. Refused when the store holds none, or not the one named.
 */
export function chooseStoreBackup(
  service: string,
  keys: readonly string[],
  named?: string,
): string {
  const copies = serviceCopies(service, keys);
  if (named !== undefined) {
    if (!backupTime(service, named))
      throw new UsageError(
        `${named} is not named as a backup of ${service} (${service}-YYYYMMDDTHHMMSSZ.tar.gz)`,
      );
    const key = backupKey(service, named);
    if (copies.includes(key)) return key;
    throw new UsageError(
      `the store holds no ${key}`,
      copies.length > 0
        ? `the store's copies: ${newestFirst(copies, (k) => backupTime(service, k)!)
            .map(baseName)
            .join(", ")}`
        : `take one: elm-infra backup ${service}`,
    );
  }
  const newest = newestBackup(service, copies);
  if (newest) return newest;
  throw new UsageError(
    `the store holds no backup of ${service}`,
    `take one (backup copies it there): elm-infra backup ${service}`,
  );
}
