import { requireInventory } from "../cluster/inventory.js";
import { withCluster } from "../cluster/connect.js";
import { requireServiceWithData } from "../config/service-ref.js";
import type { CommandContext } from "../tasks/context.js";
import { runStep } from "../tasks/runner.js";
import { takeBackup, type BackupTaken } from "../tasks/package-data.js";

export type BackupResult = BackupTaken & {
  /** Where else the backup is kept: only this machine and the cluster's backup volume so far. */
  offsite: "not built";
};

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

export function formatBackup(r: BackupResult): string {
  return [
    `${r.service}: backup of ${r.recoveryPoint} (recovery point)`,
    `  ${r.files} files, ${r.bytes} bytes`,
    `  in the cluster: ${r.host}:${r.remoteFile}`,
    `  on this machine: ${r.file}`,
  ].join("\n");
}
