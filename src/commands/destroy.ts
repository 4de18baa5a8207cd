import { rm } from "node:fs/promises";
import { readSecrets, secretsPath, writeSecrets } from "../config/load.js";
import { withOperationsLock } from "../cluster/operations-lock.js";
import { inventoryPath, readInventory } from "../cluster/inventory.js";
import { targetPaths } from "../cluster/paths.js";
import { prepareTerraform } from "../cluster/terraform.js";
import {
  describePlan,
  summarizePlan,
  type PlanSummary,
  type TofuPlanJson,
} from "../plan/bring-up.js";
import {
  clusterSecretFields,
  forgetClusterSecrets,
  localRegistrySecretFields,
} from "../plan/secrets.js";
import { hasLocalRegistry } from "../plan/registry.js";
import { describeEvent } from "../terraform/events.js";
import type { TerraformRunner } from "../terraform/runner.js";
import { forgetHostKeys, knownHostName } from "../ssh/index.js";
import { confirmByTypingName, type CommandContext, lockWaitOf } from "../tasks/context.js";
import { needed, runSteps, type StepHandle } from "../tasks/runner.js";
import { shareSecretsInStore, shareTargetFiles } from "../tasks/shared-state.js";
import { localBackupsDir, takeBackup } from "../tasks/package-data.js";
import { withCluster } from "../cluster/connect.js";
import { storeClientOf } from "../cluster/store.js";
import { keepBackupsOf } from "../plan/offsite.js";
import { copyBackupToStore } from "../tasks/offsite.js";
import type { LoadedConfig } from "../config/load.js";
import type { Inventory } from "../cluster/inventory.js";
import { ConflictError, ElmInfraError, InterruptedError } from "../errors.js";

export interface DestroyResult {
  target: string;
  outcome: "planned" | "destroyed" | "nothing";
  plan: PlanSummary | null;
  /** Host names whose keys were removed from ssh.knownHosts. */
  forgottenHosts: string[];
  /** The cluster secrets removed from secrets/<target>.yaml. */
  forgottenSecrets: string[];
  /**
   * The last backup of each service that keeps data, taken before anything was destroyed; with a
   * store, copied there too (its key; null without a store): the store outlives the target.
   */
  lastBackups: Array<{
    service: string;
    file: string;
    recoveryPoint: string;
    offsite: string | null;
  }>;
  /** --delete-data: the services' data went with the machines, without a last backup. */
  dataDeleted: string[];
}

interface DestroyRun {
  config: LoadedConfig;
  tf?: TerraformRunner;
  plan?: PlanSummary;
  forgottenHosts: string[];
  forgottenSecrets: string[];
  lastBackups: DestroyResult["lastBackups"];
}

export interface DestroyOptions {
  /** Destroy the services' data without taking a last backup of it. */
  deleteData?: boolean;
}

/**
 * `destroy`: plan the destruction → the target's name typed (or --yes) → a last backup of each
 * service's data (refused, exit 3, when one cannot be taken, unless --delete-data) → OpenTofu
 * destroy → forget the hosts' keys, the inventory and the secrets bring-up generated.
 */
export async function destroy(
  ctx: CommandContext,
  options: DestroyOptions = {},
): Promise<DestroyResult> {
  const config = await ctx.loadConfig();
  const paths = targetPaths(config);
  const run: DestroyRun = { config, forgottenHosts: [], forgottenSecrets: [], lastBackups: [] };
  const dataServices = Object.keys(config.services).filter((s) => config.services[s]!.data);
  const steps = { output: ctx.output, signal: ctx.signal };
  const result = (outcome: DestroyResult["outcome"]): DestroyResult => ({
    target: config.targetName,
    outcome,
    plan: run.plan ?? null,
    forgottenHosts: run.forgottenHosts,
    forgottenSecrets: run.forgottenSecrets,
    lastBackups: run.lastBackups,
    dataDeleted: options.deleteData && outcome === "destroyed" ? dataServices : [],
  });
  const onLost = (m: string) => ctx.output.warn(m);
  return withOperationsLock(config, "destroy", { onLost, ...lockWaitOf(ctx) }, async () => {
    await runSteps(
      [
        {
          title: "Plan the destruction (OpenTofu)",
          gives: ["tf", "plan"],
          run: async (r, step) => {
            const { tf } = await prepareTerraform(config, {
              onEvent: (e) => {
                const line = describeEvent(e);
                if (line) step.log(line);
              },
              signal: step.signal,
            });
            r.tf = tf;
            const planned = await tf.plan({ destroy: true });
            r.plan = summarizePlan((await tf.showPlan(planned.planFile)) as TofuPlanJson);
            await tf.discardPlan(planned.planFile);
            step.log(describePlan(r.plan));
          },
        },
      ],
      run,
      steps,
    );
    const plan = needed(run, "plan", "Confirm the destruction");
    const tf = needed(run, "tf", "Destroy the machines");
    const inventory = await readInventory(config);
    const keepsData = !plan.unchanged && inventory !== undefined && dataServices.length > 0;
    if (keepsData)
      ctx.output.info(
        options.deleteData
          ? `--delete-data: ${dataServices.join(", ")}'s data goes with the machines, without a last backup`
          : `a last backup of ${dataServices.join(", ")} is taken first, to ${localBackupsDir(config)}${config.target.store ? " and the target's store" : ""}`,
      );
    if (ctx.options.dryRun) return result("planned");
    if (!plan.unchanged) {
      await confirmByTypingName(
        ctx,
        `destroy every machine of target ${config.targetName} and everything on them (${plan.destroy.length} resources)`,
        config.targetName,
      );
    }
    await runSteps<DestroyRun>(
      [
        {
          title: `Take a last backup of ${dataServices.join(", ")}`,
          skip: () =>
            !keepsData
              ? "no data to keep"
              : options.deleteData
                ? "--delete-data: the data goes with the machines"
                : false,
          run: async (r, step) => {
            r.lastBackups = await lastBackups(config, inventory!, dataServices, step);
          },
        },
        {
          title: "Destroy the machines (OpenTofu destroy)",
          skip: () => (plan.unchanged ? "nothing exists" : false),
          run: async (_r, step) => {
            const counts = await tf.destroy();
            step.log(`${counts.remove} destroyed`);
          },
        },
        {
          title: "Forget the hosts' keys, the inventory and the cluster's secrets",
          run: async (r, step) => {
            const hosts = inventory?.hosts ?? [];
            await forgetHostKeys(
              paths.knownHosts,
              hosts.map((h) => knownHostName(h.ssh.host, h.ssh.port)),
            );
            r.forgottenHosts = hosts.map((h) => h.name);
            await rm(inventoryPath(config), { force: true });
            // The local target's Pebble is gone, and the roots it issued from with it.
            // Its registry too (the volume with its images and CA), and the credentials it took.
            const localRegistry = hasLocalRegistry(config.target);
            if (config.target.provider === "local") await rm(paths.trustedCa, { force: true });
            if (localRegistry) await rm(paths.registryCa, { force: true });
            const fromFile = await readSecrets(config.root, config.targetName, {});
            r.forgottenSecrets = forgottenFields(localRegistry).filter(
              (f) => fromFile[f] !== undefined,
            );
            const kept = forgetClusterSecrets(fromFile, { localRegistry });
            if (Object.keys(kept).length > 0)
              await writeSecrets(config.root, config.targetName, kept);
            else await rm(secretsPath(config.root, config.targetName), { force: true });
            step.log(
              `forgot ${r.forgottenHosts.length} host key(s) and ${r.forgottenSecrets.length} secret(s)`,
            );
            // the store forgets them too (the secrets this copy read from there included)
            const forgotten = forgottenFields(localRegistry).filter(
              (f) => config.secrets[f] !== undefined,
            );
            const shared = await shareSecretsInStore(
              config,
              forgetClusterSecrets(config.secrets, { localRegistry }),
              forgotten,
            );
            if (shared) step.log(shared);
          },
        },
        shareTargetFiles(),
      ],
      run,
      steps,
    );
    return result(plan.unchanged && run.forgottenHosts.length === 0 ? "nothing" : "destroyed");
  });
}

const forgottenFields = (localRegistry: boolean) => [
  ...clusterSecretFields,
  ...(localRegistry ? localRegistrySecretFields : []),
];

export function formatDestroy(r: DestroyResult): string {
  if (r.outcome === "planned")
    return `plan for target ${r.target} (dry run, nothing destroyed): ${r.plan ? describePlan(r.plan) : "?"}`;
  if (r.outcome === "nothing") return `target ${r.target}: nothing to destroy`;
  return [
    `target ${r.target} destroyed: ${r.plan?.destroy.length ?? 0} resources; forgot ${r.forgottenHosts.length} host key(s) and ${r.forgottenSecrets.join(", ") || "no secret"}`,
    ...r.lastBackups.map(
      (b) =>
        `  last backup of ${b.service}: ${b.file} (recovery point ${b.recoveryPoint})${b.offsite ? `; in the store as ${b.offsite}` : ""}`,
    ),
    ...(r.dataDeleted.length
      ? [`  deleted without a backup: ${r.dataDeleted.join(", ")}'s data`]
      : []),
  ].join("\n");
}

/**
 * Each data service's last backup, copied to this machine (backup's own path) and, when the
 * target has a store, from here to the store (backup's off-site copy, its retention applied).
 * One that cannot be taken or copied refuses the destruction before anything is destroyed; a
 * service never deployed has no data to keep.
 */
async function lastBackups(
  config: LoadedConfig,
  inventory: Inventory,
  services: readonly string[],
  step: StepHandle,
): Promise<DestroyResult["lastBackups"]> {
  const taken: DestroyResult["lastBackups"] = [];
  const store = config.target.store ? storeClientOf(config, process.env) : undefined;
  try {
    for (const service of services) {
      try {
        const backup = await withCluster(config, { signal: step.signal }, async (apis) => {
          if (!(await apis.nomad.readJob(service))) {
            step.log(`${service} is not deployed: no data to keep`);
            return undefined;
          }
          return takeBackup({
            config,
            inventory,
            apis,
            service,
            log: (l) => step.log(l),
            signal: step.signal,
          });
        });
        if (!backup) continue;
        step.log(`${service}: ${backup.file} (recovery point ${backup.recoveryPoint})`);
        const offsite = store
          ? await copyBackupToStore(store, {
              service,
              file: backup.file,
              keep: keepBackupsOf(config.target),
              log: (l) => step.log(`${service}: ${l}`),
            })
          : null;
        taken.push({
          service,
          file: backup.file,
          recoveryPoint: backup.recoveryPoint,
          offsite: offsite?.key ?? null,
        });
      } catch (error) {
        if (!(error instanceof ElmInfraError) || error instanceof InterruptedError) throw error;
        throw new ConflictError(
          `destroy refused: no last backup of ${service} could be kept (${error.message}); nothing was destroyed`,
          `see why with: elm-infra backup ${service}; or destroy without one: elm-infra destroy --delete-data`,
        );
      }
    }
  } finally {
    store?.close();
  }
  return taken;
}
