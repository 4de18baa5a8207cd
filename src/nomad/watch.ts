import { InterruptedError, OperationError } from "../errors.js";
import type { NomadClient } from "./client.js";
import { assessDeployment, describeProgress, type Verdict } from "./deployment.js";
import type { Deployment } from "./types.js";

export interface WatchOptions {
  deadlineMs: number;
  signal: AbortSignal;
  onProgress?: (line: string) => void;
  /** Return when one of these verdicts is reached; "failed" and "unhealthy" always return. */
  until: Array<Verdict["kind"]>;
}

/**
 * Follows a deployment with blocking queries (never a tight poll) until a wanted verdict, a
 * failure, or the deadline. Returns the verdict and the deployment as last seen.
 */
export async function watchDeployment(
  nomad: NomadClient,
  deploymentId: string,
  options: WatchOptions,
): Promise<{ verdict: Verdict; deployment: Deployment }> {
  const deadline = Date.now() + options.deadlineMs;
  let index = 0;
  let lastLine = "";
  for (let round = 0; round < 10_000; round++) {
    if (options.signal.aborted) throw new InterruptedError();
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const { data: deployment, index: next } = await nomad.deployment(deploymentId, {
      index,
      waitSeconds: Math.max(1, Math.min(30, Math.ceil(remaining / 1000))),
      signal: options.signal,
    });
    index = next;
    const line = describeProgress(deployment);
    if (line !== lastLine) options.onProgress?.(line);
    lastLine = line;
    const verdict = assessDeployment(deployment);
    if (
      verdict.kind === "failed" ||
      verdict.kind === "unhealthy" ||
      options.until.includes(verdict.kind)
    ) {
      return { verdict, deployment };
    }
  }
  const { data } = await nomad.deployment(deploymentId);
  return {
    verdict: {
      kind: "failed",
      reason: `no result within ${Math.round(options.deadlineMs / 1000)}s (the job's progress_deadline plus a margin)`,
    },
    deployment: data,
  };
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
    if (options.signal.aborted) throw new InterruptedError();
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
