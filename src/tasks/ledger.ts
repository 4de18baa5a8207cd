import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { withCluster } from "../cluster/connect.js";
import type { LoadedConfig } from "../config/load.js";
import { UnreachableError } from "../http.js";
import { HostKeyMismatchError, SshConnectError } from "../ssh/errors.js";
import { gitCommit, gitIdentity } from "../git/working-copy.js";
import { postWebhook } from "../notify/webhook.js";
import {
  isRecorded,
  ledgerEntryOf,
  ledgerEntrySchema,
  ledgerId,
  ledgerKey,
  ledgerPrefix,
  notificationBody,
  whoRan,
  type LedgerEntry,
} from "../plan/ledger.js";
import type { CommandContext } from "./context.js";
import { RevertedError } from "./revert.js";

/** How long writing the entry may take, connecting included: past it, a warning. */
const ledgerWriteMs = 10_000;

/** A command's run as the CLI saw it end: what recordOperation is given. */
export interface EndedCommand {
  command: string;
  /** The command line after the program's name. */
  argv: readonly string[];
  operands: readonly string[];
  startedAt: Date;
  exitCode: number;
  data?: unknown;
  error?: unknown;
}

/**
 * After a recorded command (deploy, rollback, scale, ...): appends its entry to the target's
 * ledger in Consul's KV, then tells the team's webhook. Neither may fail the operation it
 * records: each failure is a warning line, and the command's own result and exit code stand.
 */
export async function recordOperation(
  ctx: CommandContext,
  run: EndedCommand,
): Promise<LedgerEntry | undefined> {
  if (!isRecorded({ ...run, dryRun: ctx.options.dryRun })) return undefined;
  const config = await ctx.loadConfig().catch(() => undefined);
  if (!config) {
    ctx.output.warn("not recorded in the ledger: the target's configuration could not be read");
    return undefined;
  }
  const entry = ledgerEntryOf({
    ...run,
    id: ledgerId(run.startedAt, randomBytes(2).toString("hex")),
    target: config.targetName,
    durationMs: Date.now() - run.startedAt.getTime(),
    who: await whoRanHere(config),
    commit: await gitCommit(config.root),
    error: run.error
      ? {
          message: run.error instanceof Error ? run.error.message : String(run.error),
          reverted: isReverted(run.error),
        }
      : undefined,
  });
  const unreachable = unreachableIn(run.error);
  if (unreachable)
    ctx.output.warn(
      `not recorded in the ledger (${entry.id}): the cluster's APIs were not reachable (${unreachable})`,
    );
  else await appendEntry(ctx, config, entry);
  await notify(ctx, config, entry);
  return entry;
}

async function whoRanHere(config: LoadedConfig): Promise<string> {
  return whoRan({
    env: process.env,
    git: await gitIdentity(config.root),
    osUser: userInfo().username,
  });
}

/**
 * Why the command could not reach where the ledger lives, when that is how it failed (no host
 * answered over SSH, a host key refused, Consul did not answer): trying again to write the
 * entry would only wait as long once more.
 */
function unreachableIn(error: unknown): string | undefined {
  for (let e = error; e instanceof Error; e = e.cause)
    if (
      e instanceof SshConnectError ||
      e instanceof HostKeyMismatchError ||
      (e instanceof UnreachableError && e.service === "Consul")
    )
      return e.message.split("\n")[0];
  return undefined;
}

/** A revert that put the previous version back, wherever in the error's causes it is. */
function isReverted(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof RevertedError) return true;
  return false;
}

async function appendEntry(
  ctx: CommandContext,
  config: LoadedConfig,
  entry: LedgerEntry,
): Promise<void> {
  const signal = AbortSignal.timeout(ledgerWriteMs);
  try {
    await withCluster(config, { signal }, (apis) =>
      apis.consul.putKey(ledgerKey(entry.id), JSON.stringify(entry), signal),
    );
    ctx.output.info(`recorded in the ledger as ${entry.id}`);
  } catch (error) {
    const why = signal.aborted
      ? `the cluster's APIs did not answer within ${ledgerWriteMs / 1000}s`
      : `the cluster's APIs are not reachable: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
    ctx.output.warn(`not recorded in the ledger (${entry.id}): ${why}`);
  }
}

async function notify(
  ctx: CommandContext,
  config: LoadedConfig,
  entry: LedgerEntry,
): Promise<void> {
  const url = config.secrets.notifyWebhookUrl;
  if (!url) return;
  const delivery = await postWebhook(url, notificationBody(entry));
  if (!delivery.delivered)
    ctx.output.warn(
      `the notification of ledger entry ${entry.id} was not delivered to the webhook (notifyWebhookUrl): ${delivery.why}`,
    );
}

/** The target's whole ledger, oldest first; an entry that does not read as one is skipped. */
export async function readLedger(
  config: LoadedConfig,
  signal: AbortSignal,
): Promise<LedgerEntry[]> {
  const pairs = await withCluster(config, { signal }, (apis) =>
    apis.consul.readPrefix(ledgerPrefix, signal),
  );
  return pairs.flatMap(({ value }) => {
    try {
      const parsed = ledgerEntrySchema.safeParse(JSON.parse(value));
      return parsed.success ? [parsed.data] : [];
    } catch {
      return [];
    }
  });
}
