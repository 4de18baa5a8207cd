import { requireInventory } from "../cluster/inventory.js";
import { withCluster } from "../cluster/connect.js";
import { reservedServiceName } from "../config/schema.js";
import { requireServiceWithData } from "../config/service-ref.js";
import { UsageError } from "../errors.js";
import type { CommandContext } from "../tasks/context.js";
import { runStep } from "../tasks/runner.js";
import { takeBackup, type BackupTaken } from "../tasks/package-data.js";
import {
  formatClusterSnapshot,
  takeClusterSnapshot,
  takesClusterSnapshots,
  type ClusterSnapshotTaken,
} from "../tasks/cluster-snapshots.js";

export type BackupResult = BackupTaken & {
  /** Where else the backup is kept: only this machine and the cluster's backup volume so far. */
  offsite: "not built";
};

export type ClusterBackupResult = ClusterSnapshotTaken & { offsite: "not built" };

/**
 * `backup <service>`: takes a backup now inside the cluster (the periodic job, forced) and copies
 * it to this machine: `.elm-infra/<target>/backups/<service>-<time>.tar.gz`. A copy to a
 * DigitalOcean Spaces bucket is not built.
 */
export async function backup(ctx: CommandContext, service: string): Promise<BackupResult> {
  const config = await ctx.loadConfig();
  requireServiceWithData(config.services, service, "backup");
  const inventory = await requireInventory(config);
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    const taken = await runStep(
      `Back up ${service}'s data now and copy it here`,
      (step) =>
        takeBackup({
          config,
          inventory,
          apis,
          service,
          log: (l) => step.log(l),
          signal: step.signal,
        }),
      { output: ctx.output, signal: ctx.signal },
    );
    return { ...taken, offsite: "not built" };
  });
}

/** `backup cluster`: is this the cluster's own state rather than a service? */
export const isClusterBackup = (name: string) => name === reservedServiceName;

/**
 * `backup cluster`: Nomad's and Consul's snapshots now (the periodic job, forced, on a worker,
 * encrypted with age), copied to `.elm-infra/<target>/backups/cluster-<time>/`.
 */
export async function backupCluster(ctx: CommandContext): Promise<ClusterBackupResult> {
  const config = await ctx.loadConfig();
  if (!takesClusterSnapshots(config))
    throw new UsageError(
      `target ${config.targetName} runs the dev agents on loopback: it takes no cluster snapshots`,
    );
  const inventory = await requireInventory(config);
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    const taken = await runStep(
      "Snapshot Nomad and Consul now and copy the pair here",
      (step) =>
        takeClusterSnapshot({
          config,
          inventory,
          apis,
          log: (l) => step.log(l),
          signal: step.signal,
        }),
      { output: ctx.output, signal: ctx.signal },
    );
    return { ...taken, offsite: "not built" };
  });
}

export function formatBackup(r: BackupResult): string {
  return [
    `${r.service}: backup of ${r.recoveryPoint} (recovery point)`,
    `  ${r.files} files, ${r.bytes} bytes`,
    `  in the cluster: ${r.host}:${r.remoteFile}`,
    `  on this machine: ${r.file}`,
  ].join("\n");
}

export { formatClusterSnapshot };
