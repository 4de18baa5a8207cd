/**
 * What a request probe saw, summed up. Pure: the probe's HTTP loop (probe.ts) records each
 * answer with its times, and the report is computed from those alone, so the tests drive it
 * with synthetic timestamps.
 */

/** The probe's verdict on a run of requests through the load balancer. */
export interface ProbeReport {
  hostname: string;
  sent: number;
  /** Answers with a 2xx status. */
  ok: number;
  non2xx: number;
  /** Refused, reset, closed, or no answer within the request's deadline. */
  connectionErrors: number;
  /** The longest time without a good (2xx) answer, from the last good answer (or the start). */
  longestGapMs: number;
  /** Answers per X-Elm-Version. */
  versions: Record<string, number>;
  /** Answers per X-Elm-Infra-Worker: which worker's Traefik answered. */
  workers: Record<string, number>;
  /** The first failures, in the order they were seen. */
  failures: Array<{ at: string; what: string }>;
  durationMs: number;
}

/** One request's outcome: a status with its headers, or why there was none. */
export type ProbeAnswer =
  { at: number; status: number; version?: string; worker?: string } | { at: number; error: string };

export const keptFailures = 50;

/** Accumulates answers into a report; `at` is when the answer (or the error) came, in ms. */
export class ProbeTally {
  private sent = 0;
  private ok = 0;
  private non2xx = 0;
  private connectionErrors = 0;
  private lastGood: number;
  private longestGapMs = 0;
  private readonly versions: Record<string, number> = {};
  private readonly workers: Record<string, number> = {};
  private readonly failures: ProbeReport["failures"] = [];

  constructor(
    readonly hostname: string,
    readonly startedAt: number,
  ) {
    this.lastGood = startedAt;
  }

  /** A request went out. */
  recordSent(): void {
    this.sent += 1;
  }

  /** A request ended, with an answer or an error. */
  record(answer: ProbeAnswer): void {
    if ("error" in answer) {
      this.connectionErrors += 1;
      this.fail(answer.at, `connection error: ${answer.error}`);
      return;
    }
    if (answer.version !== undefined) count(this.versions, answer.version);
    if (answer.worker !== undefined) count(this.workers, answer.worker);
    if (answer.status >= 200 && answer.status < 300) {
      this.ok += 1;
      // Answers of overlapping requests may arrive out of order: only a later one closes a gap.
      if (answer.at > this.lastGood) {
        this.longestGapMs = Math.max(this.longestGapMs, answer.at - this.lastGood);
        this.lastGood = answer.at;
      }
      return;
    }
    this.non2xx += 1;
    this.fail(answer.at, `${answer.status}${answer.worker ? ` from ${answer.worker}` : ""}`);
  }

  /** The report as of `now`: a gap still open at `now` counts up to `now`. */
  report(now: number): ProbeReport {
    return {
      hostname: this.hostname,
      sent: this.sent,
      ok: this.ok,
      non2xx: this.non2xx,
      connectionErrors: this.connectionErrors,
      longestGapMs: Math.max(this.longestGapMs, now - this.lastGood),
      versions: { ...this.versions },
      workers: { ...this.workers },
      failures: [...this.failures],
      durationMs: now - this.startedAt,
    };
  }

  private fail(at: number, what: string): void {
    if (this.failures.length < keptFailures)
      this.failures.push({ at: new Date(at).toISOString(), what });
  }
}

function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** The requests that did not get a good answer. */
export const failedRequests = (r: ProbeReport): number => r.non2xx + r.connectionErrors;

const tally = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ×${n}`)
    .join(", ") || "none";

/** One line for progress and summaries. */
export function formatProbeLine(r: ProbeReport): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  return (
    `${r.hostname}: ${r.sent} sent, ${r.ok} ok, ${r.non2xx} non-2xx, ${r.connectionErrors} connection errors, ` +
    `longest gap ${s(r.longestGapMs)} in ${s(r.durationMs)}; versions ${tally(r.versions)}; workers ${tally(r.workers)}`
  );
}

/** The summary: the line, then the first failures. */
export function formatProbeReport(r: ProbeReport): string {
  const lines = [formatProbeLine(r)];
  const failed = failedRequests(r);
  if (failed > 0) {
    lines.push(`${failed} request(s) failed${failed > r.failures.length ? "; the first:" : ":"}`);
    for (const f of r.failures.slice(0, 10)) lines.push(`  ${f.at} ${f.what}`);
    if (failed > 10)
      lines.push(
        `  … ${failed - 10} more (the first ${Math.min(failed, keptFailures)} with their times in --json)`,
      );
  }
  return lines.join("\n");
}
