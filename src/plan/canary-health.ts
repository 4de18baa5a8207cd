/**
 * Fast failure of a canary: Nomad calls a canary unhealthy only at the job's healthy_deadline
 * (minutes), even when its health check has answered with an error from the first try. Consul's
 * check results say more: a check that reaches the site and gets an error status back ("HTTP GET
 * ...: 500 ...") means the new version runs and is broken; a check that cannot connect or times
 * out means it may still be starting, which only Nomad's deadline may judge. Pure: table-tested.
 */

/** One health check of one canary allocation, as Consul reports it now. */
export interface CanaryCheck {
  allocId: string;
  status: string;
  output: string;
}

/** Per canary allocation: since when (ms) its check has answered with an error, and the output. */
export type CanaryFailures = ReadonlyMap<string, { since: number; output: string }>;

export interface CanaryJudgement {
  failures: CanaryFailures;
  /** Set when a canary has answered with an error for long enough: fail the deployment now. */
  failed?: { allocId: string; reason: string };
}

/** "HTTP GET http://10.0.0.5:25384/health: 500 Internal Server Error Output: unhealthy" */
const answeredWithStatus = /^HTTP [A-Z]+ \S+: (\d{3})\b/;

/** The HTTP status a failing check got back, or undefined when it got no answer at all. */
export function answeredStatus(output: string): number | undefined {
  const match = answeredWithStatus.exec(output.trim());
  return match ? Number(match[1]) : undefined;
}

/**
 * Given the canaries' checks at `now` and what was seen before: a canary whose check has kept
 * answering with an error status for `failAfterMs` has failed; a passing check, or one that gets
 * no answer (not listening yet, too slow), clears its record.
 */
export function judgeCanaryChecks(
  checks: readonly CanaryCheck[],
  before: CanaryFailures,
  now: number,
  failAfterMs: number,
): CanaryJudgement {
  const failures = new Map<string, { since: number; output: string }>();
  for (const c of checks) {
    const status = answeredStatus(c.output);
    const answeredBadly = c.status === "critical" && status !== undefined && status >= 400;
    if (!answeredBadly) continue;
    // Several checks of one allocation: the earliest failure counts.
    const since = Math.min(
      before.get(c.allocId)?.since ?? now,
      failures.get(c.allocId)?.since ?? now,
    );
    failures.set(c.allocId, { since, output: c.output.trim() });
  }
  for (const [allocId, f] of failures) {
    const failingFor = now - f.since;
    if (failingFor >= failAfterMs) {
      return {
        failures,
        failed: {
          allocId,
          reason: `canary ${allocId.slice(0, 8)} answered its health check with an error for ${Math.round(failingFor / 1000)} s: ${f.output}`,
        },
      };
    }
  }
  return { failures };
}

/** Nomad names a Consul service registration of an allocation `_nomad-task-<alloc id>-...`. */
export function allocIdOfServiceId(
  serviceId: string,
  allocIds: readonly string[],
): string | undefined {
  return allocIds.find((id) => serviceId.includes(id));
}
