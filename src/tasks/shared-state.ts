/**
 * Steps that keep a target's store up to date with what this working copy changed: the cluster
 * secrets (encrypted to the listed operators) and the inventory, pinned host keys and trusted
 * roots (cluster/shared-state.ts). A target without a store has nothing to share: one operator.
 */
import type { LoadedConfig } from "../config/load.js";
import type { Secrets } from "../config/schema.js";
import { pushSharedFiles, shareSecrets } from "../cluster/shared-state.js";
import { storeClientOf } from "../cluster/store.js";
import type { StoreClient } from "../store/client.js";
import type { Step } from "./runner.js";

type TargetConfig = Pick<LoadedConfig, "root" | "file" | "targetName" | "target">;

/** Said once, by the bring-up that first generates a storeless target's secrets. */
export function singleOperatorWarning(targetName: string): string {
  return `target ${targetName} has no store: its secrets, state and lock stay on this machine, for one operator (add targets.${targetName}.store and operators to share them)`;
}

async function withStore<T>(config: TargetConfig, use: (client: StoreClient) => Promise<T>) {
  const client = storeClientOf(config, process.env);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/**
 * The generated secrets put in the store when it lacks them, some changed now (generated,
 * rotated, forgotten), or the operators changed; gives what was done, one line (no secret).
 */
export async function shareSecretsInStore(
  config: TargetConfig,
  secrets: Secrets,
  changed: readonly string[],
): Promise<string | undefined> {
  if (!config.target.store) return undefined;
  const decision = await withStore(config, (client) =>
    shareSecrets(client, config, secrets, changed),
  );
  return decision.upload
    ? `encrypted to ${decision.recipients.length} operator(s) and put in the store (${decision.why})`
    : `store: ${decision.why}`;
}

/** The store's inventory, pinned host keys and trusted roots made this machine's. */
export function shareTargetFiles<C extends { config: TargetConfig }>(): Step<C> {
  return {
    title: "Share the inventory, host keys and trusted roots (the target's store)",
    skip: (run) => (run.config.target.store ? false : "the target has no store"),
    run: async (run, step) => {
      const { put, deleted } = await withStore(run.config, (client) =>
        pushSharedFiles(client, run.config),
      );
      step.log(
        [
          ...(put.length ? [`put in the store: ${put.join(", ")}`] : []),
          ...(deleted.length ? [`none here, deleted there: ${deleted.join(", ")}`] : []),
        ].join("; "),
      );
    },
  };
}
