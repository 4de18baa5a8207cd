import { resolve } from "node:path";
import { readdir } from "node:fs/promises";
import { requireInventory, workersOf } from "../cluster/inventory.js";
import { withCluster } from "../cluster/connect.js";
import { requireRegularFile } from "../config/read-file.js";
import { requireServiceWithData } from "../config/service-ref.js";
import { UsageError } from "../errors.js";
import { backupTime, chooseRestoreHost, newestBackup } from "../plan/package-data.js";
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

export interface RestoreResult {
  service: string;
  /** The worker that holds the data now. */
  host: string;
  /** The holder before, when it differs (it was lost, or --to chose another). */
  previousHost: string | null;
  /** The backup put back: a file on this machine, or <worker>:<file> in the cluster. */
  backup: string;
  /** When the restored data was read. */
  recoveryPoint: string;
  files: number;
  downMs: number | null;
  outcome: "restored" | "planned";
}

/**
 * `restore <service> [<file>]`: puts a backup back (the newest in the cluster, else the newest on
 * this machine, or the file given) onto the holder, or onto `--to`, or onto another ready worker
 * when the holder is gone. The site is down while its volume is replaced; overwrites, so it asks.
 */
export async function restore(
  ctx: CommandContext,
  service: string,
  file: string | undefined,
  options: { to?: string } = {},
): Promise<RestoreResult> {
  const config = await ctx.loadConfig();
  requireServiceWithData(config.services, service, "restore");
  if (file) await checkBackupFile(service, file);
  const inventory = await requireInventory(config);
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    const holder = packageDataHostOf(config, inventory, service);
    const workers = new Set(workersOf(inventory).map((w) => w.name));
    const ready = (await apis.nomad.nodes())
      .filter((n) => workers.has(n.Name) && n.Status === "ready" && !n.Drain)
      .map((n) => n.Name);
    const to = chooseRestoreHost({ to: options.to, holder, readyWorkers: ready });
    const log = (l: string) => ctx.output.info(l);
    const source = await chooseSource(ctx, { config, inventory, apis, log }, service, file);
    const backup = source.local ?? `${source.remote!.host}:${source.remote!.file}`;
    const result = (r: Partial<RestoreResult>): RestoreResult => ({
      service,
      host: to,
      previousHost: holder && holder !== to ? holder : null,
      backup,
      recoveryPoint: source.recoveryPoint,
      files: 0,
      downMs: null,
      outcome: "planned",
      ...r,
    });
    if (holder && holder !== to) ctx.output.info(`the data moves from ${holder} to ${to}`);
    if (ctx.options.dryRun) return result({});
    await ctx.confirm(
      `replace ${service}'s data on ${to} with the backup of ${source.recoveryPoint} (${backup}); the site is down meanwhile`,
    );
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
