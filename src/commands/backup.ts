import { requireInventory } from "../cluster/inventory.js";
import { withCluster, type ClusterApis } from "../cluster/connect.js";
import { storeClientOf } from "../cluster/store.js";
import type { LoadedConfig } from "../config/load.js";
import { reservedServiceName } from "../config/schema.js";
import { requireServiceWithData } from "../config/service-ref.js";
import { UsageError } from "../errors.js";
import { keepBackupsOf } from "../plan/offsite.js";
import { StoreError, type StoreClient } from "../store/client.js";
import type { CommandContext } from "../tasks/context.js";
import { runStep, type StepHandle } from "../tasks/runner.js";
import { takeBackup, type BackupTaken } from "../tasks/package-data.js";
import {
  formatClusterSnapshot,
  takeClusterSnapshot,
  takesClusterSnapshots,
  type ClusterSnapshotTaken,
} from "../tasks/cluster-snapshots.js";
import {
  copyBackupToStore,
  copyClusterSnapshotToStore,
  type OffsiteCopy,
} from "../tasks/offsite.js";

export type BackupResult = BackupTaken & {
  /** The copy in the target's store; null when the target has none (the copy stays here). */
  offsite: OffsiteCopy | null;
};

export type ClusterBackupResult = ClusterSnapshotTaken & { offsite: OffsiteCopy | null };

/**
 * The runbook both backups follow: the store opened first (a missing access key is refused
 * before anything is taken; a target without one is said once to keep its copy here), the
 * backup taken in the cluster and copied here, then from here to the store. A store that fails
 * the copy fails the command, saying that the copy here stays.
 */
async function takeAndCopyOffsite<T>(
  ctx: CommandContext,
  config: LoadedConfig,
  o: {
    title: string;
    take: (apis: ClusterApis, step: StepHandle) => Promise<T>;
    /** The copy to the store: its step's title, the copy here a failure names, the copy. */
    offsite: {
      title: string;
      here: (taken: T) => string;
      copy: (store: StoreClient, taken: T, log: (line: string) => void) => Promise<OffsiteCopy>;
    };
  },
): Promise<T & { offsite: OffsiteCopy | null }> {
  const store = config.target.store ? storeClientOf(config, process.env) : undefined;
  if (!store)
    ctx.output.info(
      `target ${config.targetName} has no store: the copy stays on this machine and in the cluster (add targets.${config.targetName}.store for an off-site copy)`,
    );
  const run = <R>(title: string, work: (step: StepHandle) => Promise<R>) =>
    runStep(title, work, { output: ctx.output, signal: ctx.signal });
  try {
    const taken = await withCluster(config, { signal: ctx.signal }, (apis) =>
      run(o.title, (step) => o.take(apis, step)),
    );
    if (!store) return { ...taken, offsite: null };
    try {
      const offsite = await run(o.offsite.title, (step) =>
        o.offsite.copy(store, taken, (l) => step.log(l)),
      );
      return { ...taken, offsite };
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      throw new StoreError(
        `${error.message}; the copy on this machine stays: ${o.offsite.here(taken)}`,
        error.hint,
        { cause: error },
      );
    }
  } finally {
    store?.close();
  }
}

/**
 * `backup <service>`: takes a backup now inside the cluster (the periodic job, forced), copies
 * it to this machine (`.elm-infra/<target>/backups/<service>-<time>.tar.gz`), and, when the
 * target has a store, from here to the store (`backups/<service>/`), keeping the newest
 * store.keepBackups there.
 */
export async function backup(ctx: CommandContext, service: string): Promise<BackupResult> {
  const config = await ctx.loadConfig();
  requireServiceWithData(config.services, service, "backup");
  const inventory = await requireInventory(config);
  return takeAndCopyOffsite(ctx, config, {
    title: `Back up ${service}'s data now and copy it here`,
    take: (apis, step) =>
      takeBackup({
        config,
        inventory,
        apis,
        service,
        log: (l) => step.log(l),
        signal: step.signal,
      }),
    offsite: {
      title: "Copy the backup to the store",
      here: (taken) => taken.file,
      copy: (store, taken, log) =>
        copyBackupToStore(store, {
          service,
          file: taken.file,
          keep: keepBackupsOf(config.target),
          log,
        }),
    },
  });
}

/** `backup cluster`: is this the cluster's own state rather than a service? */
export const isClusterBackup = (name: string) => name === reservedServiceName;

/**
 * `backup cluster`: Nomad's and Consul's snapshots now (the periodic job, forced, on a worker,
 * encrypted with age), copied to `.elm-infra/<target>/backups/cluster-<time>/`, and from here to
 * the target's store when it has one (`backups/cluster/cluster-<time>/`, the newest
 * store.keepBackups pairs kept there).
 */
export async function backupCluster(ctx: CommandContext): Promise<ClusterBackupResult> {
  const config = await ctx.loadConfig();
  if (!takesClusterSnapshots(config))
    throw new UsageError(
      `target ${config.targetName} runs the dev agents on loopback: it takes no cluster snapshots`,
    );
  const inventory = await requireInventory(config);
  return takeAndCopyOffsite(ctx, config, {
    title: "Snapshot Nomad and Consul now and copy the pair here",
    take: (apis, step) =>
      takeClusterSnapshot({
        config,
        inventory,
        apis,
        log: (l) => step.log(l),
        signal: step.signal,
      }),
    offsite: {
      title: "Copy the pair to the store",
      here: (taken) => taken.dir,
      copy: (store, taken, log) =>
        copyClusterSnapshotToStore(store, {
          name: taken.name,
          files: taken.files.map((f) => f.file),
          keep: keepBackupsOf(config.target),
          log,
        }),
    },
  });
}

/** The result's line about the store: where the copy is and what the retention removed. */
function formatOffsite(offsite: OffsiteCopy | null): string {
  if (!offsite) return "  off-site: none (the target has no store)";
  const removed = offsite.removed.length > 0 ? `, ${offsite.removed.length} older removed` : "";
  return `  in the store: ${offsite.key} (${offsite.store}; ${offsite.kept} kept${removed})`;
}

export function formatBackup(r: BackupResult): string {
  return [
    `${r.service}: backup of ${r.recoveryPoint} (recovery point)`,
    `  ${r.files} files, ${r.bytes} bytes`,
    `  in the cluster: ${r.host}:${r.remoteFile}`,
    `  on this machine: ${r.file}`,
    formatOffsite(r.offsite),
  ].join("\n");
}

export const formatClusterBackup = (r: ClusterBackupResult): string =>
  [formatClusterSnapshot(r), formatOffsite(r.offsite)].join("\n");
