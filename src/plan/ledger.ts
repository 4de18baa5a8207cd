import { z } from "zod";
import { UsageError } from "../errors.js";

/**
 * The release ledger (pure part): what one recorded operation says, its key in Consul's KV, who
 * ran it, how `history` shows it, and which entry `rollback --entry` may go back to. The I/O is
 * in tasks/ledger.ts.
 */

/** Where the entries live in Consul's KV: one key per entry, under the prefix elm-infra's token may write. */
export const ledgerPrefix = "elm-infra/ledger/";

/** The commands whose runs the ledger records: the ones that change what the cluster runs. */
export const recordedCommands = ["deploy", "rollback", "scale", "replace", "reboot", "upgrade"];

export const ledgerEntrySchema = z.object({
  id: z.string(),
  target: z.string(),
  /** When the command started (ISO 8601). */
  at: z.string(),
  who: z.string(),
  command: z.string(),
  /** The command line as typed, after the program's name. */
  commandLine: z.string(),
  service: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  /** The Nomad job version the operation registered, where there is one. */
  jobVersion: z.number().nullable(),
  /** The working copy's `git rev-parse HEAD`, when it is a git checkout. */
  commit: z.string().nullable(),
  /** The working copy had uncommitted changes (`git status --porcelain` printed something). */
  dirty: z.boolean(),
  outcome: z.enum(["succeeded", "failed", "reverted"]),
  exitCode: z.number(),
  durationMs: z.number(),
  /** A failure's message, its first line. */
  error: z.string().nullable(),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;
export type LedgerOutcome = LedgerEntry["outcome"];

/**
 * An entry's id: its start time to the millisecond, then 4 random hex digits (two operators in
 * the same millisecond). Ids sort as the times do, so Consul's key order is the ledger's order.
 */
export function ledgerId(at: Date, random: string): string {
  const time = at.toISOString().replace(/[-:]/g, "").replace(".", "");
  return `${time}-${random}`;
}

export const ledgerKey = (id: string) => `${ledgerPrefix}${id}`;

/** What the run's environment says about who ran it. */
export interface WhoFacts {
  env: Record<string, string | undefined>;
  git?: { name?: string | undefined; email?: string | undefined } | undefined;
  osUser: string;
}

/** CI's actor variables, the first one set wins (GitHub Actions, GitLab CI, Buildkite). */
const ciActorVariables = ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR"];

/** Who ran it: CI's actor on CI, else the working copy's git identity, else the OS user. */
export function whoRan(facts: WhoFacts): string {
  const ci = facts.env.CI === "true" || facts.env.CI === "1";
  const actor = ci ? ciActorVariables.map((v) => facts.env[v]).find((v) => v) : undefined;
  if (actor) return `${actor} (CI)`;
  const name = facts.git?.name?.trim();
  const email = facts.git?.email?.trim();
  if (name && email) return `${name} <${email}>`;
  if (name || email) return (name || email)!;
  return facts.osUser;
}

/** A run's facts, as the CLI saw it end. */
export interface FinishedRun {
  id: string;
  target: string;
  command: string;
  argv: readonly string[];
  /** The command's operands (after its name and options): `elm-lang.org@1.4.2`, a host. */
  operands: readonly string[];
  startedAt: Date;
  durationMs: number;
  who: string;
  commit: { sha: string; dirty: boolean } | undefined;
  exitCode: number;
  /** The result's data on success. */
  data?: unknown;
  error?: { message: string; reverted: boolean } | undefined;
}

/** What a success's result says it changed: service, from, to, job version. */
function changeOf(run: FinishedRun): Pick<LedgerEntry, "service" | "from" | "to" | "jobVersion"> {
  const ref = /^([^@\s]+)(?:@(.+))?$/.exec(run.operands[0] ?? "");
  const asked = {
    service: run.command === "deploy" || run.command === "rollback" ? (ref?.[1] ?? null) : null,
    from: null,
    to: run.command === "deploy" || run.command === "rollback" ? (ref?.[2] ?? null) : null,
    jobVersion: null,
  };
  const d = (run.data ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  if (run.command === "deploy" && typeof d.service === "string")
    return {
      service: d.service,
      from: str(d.previousVersion),
      to: str(d.version),
      jobVersion: num(d.jobVersion),
    };
  if (run.command === "deploy" && d.previous && typeof d.previous === "object") {
    // deploy ingress@<v>: one Traefik per worker, each with its own previous version
    const before = [...new Set(Object.values(d.previous as Record<string, string>))].sort();
    return { ...asked, from: before.join(", ") || null, to: str(d.version) };
  }
  if (run.command === "rollback" && typeof d.service === "string")
    return { service: d.service, from: str(d.from), to: str(d.to), jobVersion: num(d.jobVersion) };
  return asked;
}

/** Pure: the entry a finished run makes. */
export function ledgerEntryOf(run: FinishedRun): LedgerEntry {
  const outcome: LedgerOutcome =
    run.exitCode === 0 ? "succeeded" : run.error?.reverted ? "reverted" : "failed";
  return {
    id: run.id,
    target: run.target,
    at: run.startedAt.toISOString(),
    who: run.who,
    command: run.command,
    commandLine: run.argv.join(" "),
    ...changeOf(run),
    commit: run.commit?.sha ?? null,
    dirty: run.commit?.dirty ?? false,
    outcome,
    exitCode: run.exitCode,
    durationMs: Math.round(run.durationMs),
    error: run.error ? (run.error.message.split("\n")[0] ?? "") : null,
  };
}

/**
 * Whether a finished run goes in the ledger: a recorded command that may have changed something.
 * A dry run, a deploy of what already runs and input refused before any change (exit 2) do not.
 */
export function isRecorded(run: {
  command: string;
  dryRun: boolean;
  exitCode: number;
  data?: unknown;
}): boolean {
  if (!recordedCommands.includes(run.command) || run.dryRun || run.exitCode === 2) return false;
  const outcome = (run.data as { outcome?: unknown } | undefined)?.outcome;
  return outcome !== "unchanged" && outcome !== "planned";
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** What changed, in a few words: `elm-lang.org 1.0.0 → 1.0.1`, or the command line. */
export function describeChange(e: LedgerEntry): string {
  if (!e.service) return e.commandLine;
  const versions = e.from || e.to ? ` ${e.from ?? "none"} → ${e.to ?? "?"}` : "";
  return `${e.command} ${e.service}${versions}`;
}

const shortCommit = (e: LedgerEntry) =>
  e.commit ? `${e.commit.slice(0, 12)}${e.dirty ? " (dirty)" : ""}` : "-";

/** The notification's one line, as a chat shows it. */
export function notificationText(e: LedgerEntry): string {
  const how = e.outcome === "succeeded" ? "succeeded" : `${e.outcome} (exit ${e.exitCode})`;
  return `elm-infra [${e.target}] ${describeChange(e)} ${how} in ${seconds(e.durationMs)}, by ${e.who}${e.commit ? `, commit ${shortCommit(e)}` : ""}`;
}

/** The webhook's body: Slack's `text`, and the entry itself for whatever reads it. */
export function notificationBody(e: LedgerEntry): { text: string; elmInfra: LedgerEntry } {
  return { text: notificationText(e), elmInfra: e };
}

/** Pure: the entries `history` shows, newest first, of one service or all, at most `limit`. */
export function selectHistory(
  entries: readonly LedgerEntry[],
  o: { service?: string | undefined; limit?: number | undefined },
): LedgerEntry[] {
  return [...entries]
    .filter((e) => !o.service || e.service === o.service)
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, o.limit ?? Infinity);
}

/** The table `history` prints for people. */
export function formatHistory(entries: readonly LedgerEntry[]): string {
  if (entries.length === 0) return "no entry in the ledger yet";
  const header = ["ID", "WHEN", "WHO", "WHAT", "JOB", "OUTCOME", "TOOK", "COMMIT"];
  const rows = entries.map((e) => [
    e.id,
    e.at.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    e.who,
    describeChange(e),
    e.jobVersion === null ? "-" : String(e.jobVersion),
    e.outcome === "succeeded" ? e.outcome : `${e.outcome} (${e.exitCode})`,
    seconds(e.durationMs),
    shortCommit(e),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * Pure: the version `rollback <service> --entry <id>` goes back to: the `to` of a deploy or
 * rollback of that service that succeeded. Anything else is refused (exit 2), saying why.
 */
export function versionOfEntry(
  entry: LedgerEntry | undefined,
  id: string,
  service: string,
): string {
  const hint = `see the entries with: elm-infra history ${service}`;
  if (!entry) throw new UsageError(`no ledger entry ${id}`, hint);
  if (entry.command !== "deploy" && entry.command !== "rollback")
    throw new UsageError(
      `ledger entry ${id} is a ${entry.command}, not a deploy or rollback`,
      hint,
    );
  if (entry.service !== service)
    throw new UsageError(
      `ledger entry ${id} is a ${entry.command} of ${entry.service ?? "no service"}, not of ${service}`,
      hint,
    );
  if (entry.outcome !== "succeeded" || !entry.to)
    throw new UsageError(
      `ledger entry ${id}'s ${entry.command} of ${service} ${entry.outcome === "succeeded" ? "recorded no version" : entry.outcome}: its version never served`,
      hint,
    );
  return entry.to;
}
