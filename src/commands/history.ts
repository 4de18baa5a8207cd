import { UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { formatHistory, selectHistory, type LedgerEntry } from "../plan/ledger.js";
import { ingressJobName } from "../plan/job-vars.js";
import type { CommandContext } from "../tasks/context.js";
import { readLedger } from "../tasks/ledger.js";

export interface HistoryResult {
  entries: LedgerEntry[];
  text: string;
}

/** `history [service] [--limit N]`: the target's ledger, newest first. */
export async function history(
  ctx: CommandContext,
  service: string | undefined,
  limit: number | undefined,
): Promise<HistoryResult> {
  const config = await ctx.loadConfig();
  const known = [...Object.keys(config.services), ingressJobName];
  if (service !== undefined && !known.includes(service))
    throw new UsageError(`unknown service ${quote(service)}`, `the services: ${known.join(", ")}`);
  const entries = selectHistory(await readLedger(config, ctx.signal), { service, limit });
  return { entries, text: formatHistory(entries) };
}
