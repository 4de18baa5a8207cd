import { createInterface } from "node:readline/promises";
import { configPath, loadConfig, readClusterFile, type LoadedConfig } from "../config/load.js";
import type { Cluster } from "../config/schema.js";
import { abortReason, ElmInfraError, UsageError } from "../errors.js";
import type { Output } from "../output/output.js";

export interface GlobalOptions {
  target?: string;
  config?: string;
  yes: boolean;
  dryRun: boolean;
  json: boolean;
  verbose: boolean;
  /** The command's operands (what follows its name, options aside): what the ledger records. */
  operands?: string[];
  /** --lock-wait, in seconds: wait for the operations lock instead of refusing at once. */
  lockWait?: number;
}

/** What every command receives: options, the output stream, Ctrl-C, configuration. */
export interface CommandContext {
  options: GlobalOptions;
  output: Output;
  signal: AbortSignal;
  /** True when a person can answer a question on this terminal. */
  interactive: boolean;
  /** cluster.yaml alone: enough to validate arguments before choosing a target. */
  loadCluster(): Promise<Cluster>;
  /** cluster.yaml, the chosen target and its secrets. */
  loadConfig(): Promise<LoadedConfig>;
  /** Resolves when the change may go ahead; throws when it may not. */
  confirm(change: string): Promise<void>;
}

/** How a command waits for the operations lock: --lock-wait, and Ctrl-C ends the wait. */
export function lockWaitOf(ctx: CommandContext): { lockWaitSeconds?: number; signal: AbortSignal } {
  return {
    signal: ctx.signal,
    ...(ctx.options.lockWait !== undefined ? { lockWaitSeconds: ctx.options.lockWait } : {}),
  };
}

/**
 * A target with a store: what this working copy lacks (the cluster secrets, the inventory, the
 * pinned host keys, the trusted roots) read from it, and the files another operator changed
 * there taken (cluster/shared-state.ts, loaded only then).
 */
async function followStore(config: LoadedConfig, output: Output): Promise<LoadedConfig> {
  if (!config.target.store) return config;
  const shared = await import("../cluster/shared-state.js");
  const completed = await shared.completeFromStore(config, process.env);
  const store = `the store of target ${config.targetName}`;
  const files = completed.files;
  if (completed.fetched.length > 0)
    output.info(`read from ${store}: ${completed.fetched.join(", ")}`);
  if (completed.notCompared) output.info(completed.notCompared);
  if (files?.refreshed.length)
    output.info(
      `refreshed from ${store} (another operator changed them): ${files.refreshed.join(", ")}`,
    );
  if (files?.removed.length)
    output.info(
      `removed here, as ${store} no longer has them (a destroy): ${files.removed.join(", ")}`,
    );
  if (files?.kept.length)
    output.warn(
      `kept here though ${store} holds others: ${files.kept.join(", ")} (changed here since this copy last shared them: a command that stopped early?); the next bring-up or scale from here puts them there, or delete them here to take the store's`,
    );
  return completed.config;
}

export class CancelledError extends ElmInfraError {}

export function createContext(
  options: GlobalOptions,
  output: Output,
  signal: AbortSignal,
  interactive: boolean,
): CommandContext {
  let loaded: Promise<LoadedConfig> | undefined;
  let cluster: Promise<Cluster> | undefined;
  return {
    options,
    output,
    signal,
    interactive,
    loadCluster: () => (cluster ??= readClusterFile(configPath(options.config))),
    // cluster.yaml is read once per run, whichever of the two asks first (a pipe reads only once)
    loadConfig: () =>
      (loaded ??= loadConfig({
        file: options.config,
        target: options.target,
        cluster: (cluster ??= readClusterFile(configPath(options.config))),
      }).then((config) => followStore(config, output))),
    async confirm(change) {
      if (options.yes) return;
      if (!interactive) {
        throw new UsageError(
          `this would ${change}, and no one is here to confirm`,
          "pass --yes to go ahead, or --dry-run to only see the plan",
        );
      }
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl
          .question(`This will ${change}. Go ahead? [y/N] `, { signal })
          .catch((error: unknown) => {
            if (signal.aborted) throw abortReason(signal);
            throw error;
          });
        if (!/^y(es)?$/i.test(answer.trim()))
          throw new CancelledError("cancelled: nothing was changed", "run it again to go ahead");
      } finally {
        rl.close();
      }
    },
  };
}

/**
 * For what cannot be undone (destroy): the user types the target's name, or passes --yes. With
 * no one to ask, it is a usage error, never a silent yes.
 */
export async function confirmByTypingName(
  ctx: Pick<CommandContext, "options" | "interactive" | "signal">,
  change: string,
  name: string,
): Promise<void> {
  if (ctx.options.yes) return;
  if (!ctx.interactive) {
    throw new UsageError(
      `this would ${change}, and no one is here to type the target's name`,
      `pass --yes to go ahead (elm-infra destroy --target ${name} --yes), or --dry-run to see the plan`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `This will ${change}.\nType the target's name (${name}) to go ahead: `,
      {
        signal: ctx.signal,
      },
    );
    if (answer.trim() !== name) throw new CancelledError("cancelled: nothing was destroyed");
  } finally {
    rl.close();
  }
}
