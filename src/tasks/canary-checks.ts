/**
 * Follows the canaries' health checks in Consul while the deployment is watched, so that a canary
 * that answers its health check with an error fails the rollout within seconds instead of at the
 * job's healthy_deadline (see plan/canary-health.ts for what counts as failing).
 */
import type { ConsulClient } from "../consul/client.js";
import { done, notYet, sleep, waitFor, WaitTimeoutError } from "../wait.js";
import type { NomadClient } from "../nomad/client.js";
import {
  allocIdOfServiceId,
  judgeCanaryChecks,
  type CanaryCheck,
  type CanaryFailures,
} from "../plan/canary-health.js";

export interface CanaryCheckWatch {
  nomad: NomadClient;
  consul: ConsulClient;
  deploymentId: string;
  consulService: string;
  /** How long a canary may answer its check with an error before it is failed. */
  failAfterMs: number;
  /** Stops the watch (the deployment's own watch reached a verdict). */
  signal: AbortSignal;
  deadlineMs: number;
  onFailing?: (line: string) => void;
}

/**
 * Resolves with the reason when a canary has kept answering its health check with an error;
 * resolves undefined when stopped, at the deadline, or if Consul cannot be read (the deployment's
 * own watch still judges).
 */
export async function watchCanaryChecks(
  o: CanaryCheckWatch,
): Promise<{ allocId: string; reason: string } | undefined> {
  let failures: CanaryFailures = new Map();
  let index: number | undefined;
  let canaries: string[] = [];
  // Bounded: each round waits at most 10 s (a blocking query) or 2 s (no canary placed yet).
  const failed = waitFor(
    {
      what: "a canary's checks to fail",
      timeoutMs: o.deadlineMs,
      intervalMs: 0,
      maxAttempts: 2_000,
      signal: o.signal,
    },
    async (round, signal) => {
      try {
        if (canaries.length === 0) {
          const { data } = await o.nomad.deployment(o.deploymentId, { signal: o.signal });
          canaries = Object.values(data.TaskGroups ?? {}).flatMap((g) => g.PlacedCanaries ?? []);
          if (canaries.length === 0) {
            await sleep(2000, signal);
            return notYet("no canary placed yet");
          }
        }
        const waitMs = Math.min(10_000, pendingRecheck(failures, o.failAfterMs));
        const { data, index: next } = await o.consul.serviceChecks(o.consulService, {
          ...(index !== undefined ? { index } : {}),
          waitSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
          signal: o.signal,
        });
        index = next;
        const checks: CanaryCheck[] = data.flatMap((c) => {
          const allocId = allocIdOfServiceId(c.ServiceID, canaries);
          return allocId ? [{ allocId, status: c.Status, output: c.Output }] : [];
        });
        const judged = judgeCanaryChecks(checks, failures, Date.now(), o.failAfterMs);
        for (const [allocId, f] of judged.failures) {
          if (!failures.has(allocId))
            o.onFailing?.(
              `canary ${allocId.slice(0, 8)} answers its health check with an error: ${f.output}`,
            );
        }
        failures = judged.failures;
        return judged.failed ? done(judged.failed) : notYet("no canary failing");
      } catch (error) {
        if (o.signal.aborted) throw error;
        if (round === 1)
          o.onFailing?.(
            `cannot read the canary's checks in Consul yet: ${(error as Error).message}`,
          );
        // Consul unreadable for a moment: the deployment's own watch still judges; look again.
        await sleep(2000, signal);
        return notYet((error as Error).message);
      }
    },
  );
  // Stopped (the deployment's watch decided, or Ctrl-C: the caller sees its signal) or out of
  // time: no verdict from the checks, by design.
  return failed.catch((error: unknown) => {
    if (error instanceof WaitTimeoutError || o.signal.aborted) return undefined;
    throw error;
  });
}

/** While a failure is being timed, look again when its time is up even if nothing changes. */
function pendingRecheck(failures: CanaryFailures, failAfterMs: number): number {
  let soonest = Infinity;
  for (const f of failures.values())
    soonest = Math.min(soonest, f.since + failAfterMs - Date.now());
  return Math.max(500, soonest);
}
