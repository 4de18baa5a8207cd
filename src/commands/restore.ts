import { resolve } from "node:path";
import { mkdir, readdir } from "node:fs/promises";
import { requireInventory, workersOf, type Inventory } from "../cluster/inventory.js";
import { withCluster } from "../cluster/connect.js";
import { storeClientOf } from "../cluster/store.js";
import type { LoadedConfig } from "../config/load.js";
import { requireRegularFile } from "../config/read-file.js";
import { requireServiceWithData } from "../config/service-ref.js";
import { UsageError } from "../errors.js";
import { chooseStoreBackup, serviceBackupsPrefix } from "../plan/offsite.js";
import { backupTime, chooseRestoreHost, newestBackup } from "../plan/package-data.js";
import type { StoreClient } from "../store/client.js";
import type { CommandContext } from "../tasks/context.js";
import { runStep } from "../tasks/runner.js";
import {
  localBackupsDir,
  newestBackupInCluster,
  packageDataHostOf,
  restorePackageData,
  type PackageDataOptions,
  type RestoreSource,
} from "../tasks/package-data.js";
import { fetchBackupFromStore } from "../tasks/offsite.js";

export interface RestoreResult {
  service: string;
  /** The worker that holds the data now. */
  host: string;
  /** The holder before, when it differs (it was lost, or --to chose another). */
  previousHost: string | null;
  /**
   * The backup put back: a file on this machine, <worker>:<file> in the cluster, or
   * store:<key> (brought here first, its SHA-256 checked).
   */
  backup: string;
  /** When the restored data was read. */
  recoveryPoint: string;
  files: number;
  downMs: number | null;
  outcome: "restored" | "planned";
}

/**
 * `restore <service> [<file>]`: puts a backup back (the newest in the cluster, else the newest on
 * this machine, or the file given, or with `--from-store` the newest or named copy in the
 * target's store) onto the holder, or onto `--to`, or onto another ready worker when the holder
 * is gone. The site is down while its volume is replaced; overwrites, so it asks. A copy from the
 * store is brought here and its size and SHA-256 checked before the site stops.
 */
export async function restore(
  ctx: CommandContext,
  service: string,
  file: string | undefined,
  options: { to?: string; fromStore?: true | string } = {},
): Promise<RestoreResult> {
  const config = await ctx.loadConfig();
  requireServiceWithData(config.services, service, "restore");
  if (file && options.fromStore)
    throw new UsageError(
      "give a backup file or --from-store, not both",
      `a copy in the store by its name: --from-store ${file.split("/").pop()}`,
    );
  if (file) await checkBackupFile(service, file);
  if (options.fromStore) requireStore(config);
  const inventory = await requireInventory(config);
  const store = options.fromStore ? storeClientOf(config, process.env) : undefined;
  try {
    const inStore = store
      ? copyInStore(
          ctx,
          { config, store, service },
          chooseStoreBackup(
            service,
            await store.list(serviceBackupsPrefix(service)),
            options.fromStore === true ? undefined : options.fromStore,
          ),
        )
      : undefined;
    return await restoreFrom(ctx, { config, inventory, service, file, to: options.to, inStore });
  } finally {
    store?.close();
  }
}

/** `--from-store` on a target without a store is a usage error. */
function requireStore(config: LoadedConfig): void {
  if (!config.target.store)
    throw new UsageError(
      `target ${config.targetName} has no store: it keeps no off-site copies to restore from`,
      `restore a backup in the cluster or on this machine: elm-infra restore <service> [<file>]`,
    );
}

/** A copy in the store as a source: planned by its key, brought here once the change may go ahead. */
function copyInStore(
  ctx: CommandContext,
  o: { config: LoadedConfig; store: StoreClient; service: string },
  key: string,
): StoreSource {
  const { config, store } = o;
  // chosen by chooseStoreBackup: named as one of the service's backups
  const recoveryPoint = backupTime(o.service, key)!.toISOString();
  return {
    recoveryPoint,
    name: `store:${key}`,
    fetch: async () => {
      const dir = localBackupsDir(config);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const fetched = await runStep(
        `Bring ${key} from the store here and check it`,
        async (step) => {
          const f = await fetchBackupFromStore(store, { key, dir });
          step.log(`${f.file}: ${f.bytes} bytes, SHA-256 ${f.sha256} as copied there`);
          return f;
        },
        { output: ctx.output, signal: ctx.signal },
      );
      return { local: fetched.file, recoveryPoint };
    },
  };
}

/** A backup to bring here before it is restored (a copy in the store). */
interface StoreSource {
  recoveryPoint: string;
  name: string;
  fetch(): Promise<RestoreSource>;
}

/** The restore itself, in the cluster: the source chosen (unless from the store), asked, done. */
async function restoreFrom(
  ctx: CommandContext,
  r: {
    config: LoadedConfig;
    inventory: Inventory;
    service: string;
    file: string | undefined;
    to: string | undefined;
    inStore: StoreSource | undefined;
  },
): Promise<RestoreResult> {
  const { config, inventory, service, file, inStore } = r;
  const options = { to: r.to };
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    const holder = packageDataHostOf(config, inventory, service);
    const workers = new Set(workersOf(inventory).map((w) => w.name));
    const ready = (await apis.nomad.nodes())
      .filter((n) => workers.has(n.Name) && n.Status === "ready" && !n.Drain)
      .map((n) => n.Name);
    const to = chooseRestoreHost({ to: options.to, holder, readyWorkers: ready });
    const log = (l: string) => ctx.output.info(l);
    const planned: RestoreSource | StoreSource =
      inStore ?? (await chooseSource(ctx, { config, inventory, apis, log }, service, file));
    const backup =
      "name" in planned
        ? planned.name
        : (planned.local ?? `${planned.remote!.host}:${planned.remote!.file}`);
    const recoveryPoint = planned.recoveryPoint;
    const result = (r: Partial<RestoreResult>): RestoreResult => ({
      service,
      host: to,
      previousHost: holder && holder !== to ? holder : null,
      backup,
      recoveryPoint,
      files: 0,
      downMs: null,
      outcome: "planned",
      ...r,
    });
    if (holder && holder !== to) ctx.output.info(`the data moves from ${holder} to ${to}`);
    if (ctx.options.dryRun) return result({});
    await ctx.confirm(
      `replace ${service}'s data on ${to} with the backup of ${recoveryPoint} (${backup}); the site is down meanwhile`,
    );
    const source = "fetch" in planned ? await planned.fetch() : planned;
    const done = await runStep(
      `Restore ${service}'s data on ${to}`,
      (step) =>
        restorePackageData({
          config,
          inventory,
          apis,
          service,
          to,
          source,
          log: (l) => step.log(l),
          signal: step.signal,
        }),
      { output: ctx.output, signal: ctx.signal },
    );
    return result({ ...done, outcome: "restored" });
  });
}

/** A backup file given on the command line: named as one of this service's, a regular file. */
async function checkBackupFile(service: string, file: string): Promise<void> {
  if (!backupTime(service, file))
    throw new UsageError(
      `${file} is not named as a backup of ${service} (${service}-YYYYMMDDTHHMMSSZ.tar.gz)`,
    );
  await requireRegularFile(
    file,
    "backup",
    `pass a backup file that elm-infra backup ${service} made`,
  );
}

/** The file given, else the newest backup in the cluster, else the newest on this machine. */
async function chooseSource(
  ctx: CommandContext,
  o: PackageDataOptions,
  service: string,
  file: string | undefined,
): Promise<RestoreSource> {
  // checked by checkBackupFile before anything else
  if (file)
    return { local: resolve(file), recoveryPoint: backupTime(service, file)!.toISOString() };
  const inCluster = await newestBackupInCluster({ ...o, service });
  if (inCluster) return inCluster;
  const dir = localBackupsDir(o.config);
  const here = newestBackup(service, await readdir(dir).catch(() => []));
  if (here) {
    ctx.output.info(`no backup in the cluster: using ${here} from this machine`);
    return {
      local: resolve(dir, here),
      recoveryPoint: backupTime(service, here)!.toISOString(),
    };
  }
  throw new UsageError(
    `no backup of ${service} in the cluster nor in ${dir}`,
    `take one: elm-infra backup ${service}`,
  );
}

export function formatRestore(r: RestoreResult): string {
  const head =
    r.outcome === "planned"
      ? `would restore ${r.service} on ${r.host} from ${r.backup} (dry run)`
      : `${r.service} restored on ${r.host}: ${r.files} files, down for ${((r.downMs ?? 0) / 1000).toFixed(1)} s`;
  return [
    head,
    `  recovery point: ${r.recoveryPoint} (${r.backup})`,
    ...(r.previousHost ? [`  the data moved from ${r.previousHost} to ${r.host}`] : []),
  ].join("\n");
}
