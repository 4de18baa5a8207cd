/**
 * A target's shared store (targets.<name>.store): its client with the access key from the
 * environment, checked before anything is shared: the store must honour the conditional writes
 * (store/probe.ts) that keep two operators from both taking the lock.
 */
import type { LoadedConfig } from "../config/load.js";
import { ConfigError, UsageError } from "../errors.js";
import type { Lock } from "../lock.js";
import { StoreClient } from "../store/client.js";
import { storeLocation } from "../store/location.js";
import { operatorName, storeLock } from "../store/lease.js";
import { probeConditionalWrites } from "../store/probe.js";

/** The access key's variables: the same pair OpenTofu's S3 backend reads. */
export const storeKeyEnv = { id: "AWS_ACCESS_KEY_ID", secret: "AWS_SECRET_ACCESS_KEY" } as const;

export interface TargetStore {
  client: StoreClient;
  operationsLock(command: string, onLost: (message: string) => void): Promise<Lock>;
  close(): void;
}

/** Opens the target's store and probes its conditional writes; refuses a store without them. */
export async function openTargetStore(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv,
): Promise<TargetStore> {
  const client = storeClientOf(config, env);
  try {
    await requireConditionalWrites(config, client);
  } catch (error) {
    client.close();
    throw error;
  }
  return {
    client,
    operationsLock: async (command, onLost) =>
      storeLock(client, config.targetName, command, await operatorName(env), { onLost }),
    close: () => client.close(),
  };
}

/**
 * The target's store client with the access key from the environment, unprobed: for reading and
 * writing what the lock already protects, or what a reader only fetches.
 */
export function storeClientOf(
  config: Pick<LoadedConfig, "targetName" | "target">,
  env: NodeJS.ProcessEnv,
): StoreClient {
  const location = storeLocation(config);
  const accessKeyId = env[storeKeyEnv.id];
  const secretAccessKey = env[storeKeyEnv.secret];
  if (!accessKeyId || !secretAccessKey)
    throw new UsageError(
      `target ${config.targetName} keeps its state in the store s3://${location.bucket}/${location.prefix} at ${location.endpoint}, and ${storeKeyEnv.id} and ${storeKeyEnv.secret} are not both set`,
      `export the store's access key as ${storeKeyEnv.id} and ${storeKeyEnv.secret} (never in cluster.yaml)`,
    );
  return new StoreClient(location, { accessKeyId, secretAccessKey });
}

/** The probe's refusal: the store cannot hold a lock, so no state is shared through it. */
export async function requireConditionalWrites(
  config: Pick<LoadedConfig, "file" | "targetName">,
  client: StoreClient,
): Promise<void> {
  const verdict = await probeConditionalWrites(client);
  if (verdict.honoured) return;
  throw new ConfigError(
    [
      {
        file: config.file,
        path: `targets.${config.targetName}.store`,
        message: `the store ${client.name} does not honour conditional writes (${verdict.problems.join("; ")}), so two operators could both take the operations lock; state is not shared through it`,
      },
    ],
    "use a store that honours If-None-Match: * and If-Match on PutObject (Amazon S3, versitygw), or remove the target's store to keep its state and lock on this machine (one operator)",
  );
}
