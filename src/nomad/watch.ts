import { OperationError } from "../errors.js";
import { done, notYet, waitFor, WaitTimeoutError } from "../wait.js";
import type { NomadClient } from "./client.js";
import { describeProgress, judgeWatch, type DeploymentVerdict } from "./deployment.js";
import type { Deployment } from "./types.js";

export interface WatchOptions {
  deadlineMs: number;
  signal: AbortSignal;
  onProgress?: (line: string) => void;
  /** Return when one of these verdicts is reached; "failed", "unhealthy" and "timed-out" always return. */
  until: Array<DeploymentVerdict["kind"]>;
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
): Promise<{ verdict: DeploymentVerdict; deployment: Deployment }> {
  const deadline = Date.now() + options.deadlineMs;
  let index = 0;
  let lastLine = "";
  // Bounded: each round waits up to 30 s or returns because the deployment changed; judgeWatch
  // says "timed-out" at the deadline, the wait's own bound is only a backstop a minute later.
  return waitFor(
    {
      what: `deployment ${deploymentId.slice(0, 8)} to reach a verdict`,
      timeoutMs: options.deadlineMs + 60_000,
      intervalMs: 0,
      maxAttempts: 10_000,
      signal: options.signal,
    },
    async (_round, signal) => {
      const remaining = Math.max(0, deadline - Date.now());
      const { data: deployment, index: next } = await nomad.deployment(deploymentId, {
        index,
        waitSeconds: Math.max(1, Math.min(30, Math.ceil(remaining / 1000))),
        ...(signal ? { signal } : {}),
      });
      index = next;
      const line = describeProgress(deployment);
      if (line !== lastLine) options.onProgress?.(line);
      lastLine = line;
      const judged = judgeWatch(deployment, { ...options, now: Date.now(), deadline });
      return judged.stop ? done({ verdict: judged.verdict, deployment }) : notYet(line);
    },
  );
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
  // None within the time is an answer the caller branches on (requireDeployment, or optional).
  return waitFor(
    {
      what: `the deployment of ${jobId} version ${jobVersion}`,
      timeoutMs: options.timeoutMs,
      intervalMs: 0,
      maxAttempts: 1000,
      signal: options.signal,
    },
    async (_round, signal) => {
      const { data, index: next } = await nomad.latestDeployment(jobId, {
        index,
        waitSeconds: Math.max(1, Math.min(10, Math.ceil((deadline - Date.now()) / 1000))),
        ...(signal ? { signal } : {}),
      });
      index = next;
      return data && data.JobVersion >= jobVersion ? done(data) : notYet("not created yet");
    },
  ).catch((error: unknown) => {
    if (error instanceof WaitTimeoutError) return undefined;
    throw error;
  });
}

export function requireDeployment(d: Deployment | undefined, what: string): Deployment {
  if (!d)
    throw new OperationError(
      `Nomad created no deployment for ${what}`,
      "check `nomad job status` for placement failures",
    );
  return d;
}
