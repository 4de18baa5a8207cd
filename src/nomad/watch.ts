import { abortReason, OperationError } from "../errors.js";
import type { NomadClient } from "./client.js";
import { describeProgress, judgeWatch, type Verdict } from "./deployment.js";
import type { Deployment } from "./types.js";

export interface WatchOptions {
  deadlineMs: number;
  signal: AbortSignal;
  onProgress?: (line: string) => void;
  /** Return when one of these verdicts is reached; "failed", "unhealthy" and "timed-out" always return. */
  until: Array<Verdict["kind"]>;
}

/**
 * Follows a deployment with blocking queries (never a tight poll) until a wanted verdict, a
 * failure, or the deadline (the verdict "timed-out"). Returns the verdict and the deployment as
 * last seen.
 */
export async function watchDeployment(
  nomad: NomadClient,
  deploymentId: string,
  options: WatchOptions,
): Promise<{ verdict: Verdict; deployment: Deployment }> {
  const deadline = Date.now() + options.deadlineMs;
  let index = 0;
  let lastLine = "";
  // Bounded: each round waits up to 30 s or returns because the deployment changed.
  for (let round = 0; round < 10_000; round++) {
    if (options.signal.aborted) throw abortReason(options.signal);
    const remaining = Math.max(0, deadline - Date.now());
    const { data: deployment, index: next } = await nomad.deployment(deploymentId, {
      index,
      waitSeconds: Math.max(1, Math.min(30, Math.ceil(remaining / 1000))),
      signal: options.signal,
    });
    index = next;
    const line = describeProgress(deployment);
    if (line !== lastLine) options.onProgress?.(line);
    lastLine = line;
    const judged = judgeWatch(deployment, { ...options, now: Date.now(), deadline });
    if (judged.stop) return { verdict: judged.verdict, deployment };
  }
  throw new OperationError(`watching deployment ${deploymentId.slice(0, 8)} took too many rounds`);
}

/** Waits for the deployment of `jobVersion` (or later) of a job to appear. */
export async function waitForDeploymentOf(
  nomad: NomadClient,
  jobId: string,
  jobVersion: number,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<Deployment | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let index = 0;
  for (let round = 0; round < 1000 && Date.now() < deadline; round++) {
    if (options.signal.aborted) throw abortReason(options.signal);
    const { data, index: next } = await nomad.latestDeployment(jobId, {
      index,
      waitSeconds: Math.max(1, Math.min(10, Math.ceil((deadline - Date.now()) / 1000))),
      signal: options.signal,
    });
    index = next;
    if (data && data.JobVersion >= jobVersion) return data;
  }
  return undefined;
}

export function requireDeployment(d: Deployment | undefined, what: string): Deployment {
  if (!d)
    throw new OperationError(
      `Nomad created no deployment for ${what}`,
      "check `nomad job status` for placement failures",
    );
  return d;
}
