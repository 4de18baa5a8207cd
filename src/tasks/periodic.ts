/**
 * Periodic Nomad batch jobs that write files on a worker (the package data's backups, the
 * cluster's snapshots): their runs, forcing one and waiting for it, and copying what it wrote to
 * this machine over SSH.
 */
import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import type { LoadedConfig } from "../config/load.js";
import { OperationError } from "../errors.js";
import { done, notYet, waitFor } from "../wait.js";
import type { AllocationStub } from "../nomad/types.js";
import type { BackupRun } from "../plan/package-data.js";
import { connectToHost, type ClusterApis } from "../cluster/connect.js";
import type { InventoryHost } from "../cluster/inventory.js";

/** The runs of a periodic job that Nomad still knows. */
export async function periodicRuns(apis: ClusterApis, jobId: string): Promise<BackupRun[]> {
  const stubs = await apis.nomad.jobsWithPrefix(`${jobId}/periodic-`);
  return stubs.map((s) => {
    const groups = Object.values(s.JobSummary?.Summary ?? {});
    return {
      id: s.ID,
      submitTime: s.SubmitTime,
      status: s.Status,
      complete: groups.reduce((n, g) => n + (g.Complete ?? 0), 0),
      failed: groups.reduce((n, g) => n + (g.Failed ?? 0), 0),
    };
  });
}

/**
 * Forces a run of the periodic job now and waits (bounded) until its allocation completed; a
 * failed run is said with its task's last stderr.
 */
export async function runPeriodicJobNow(
  apis: ClusterApis,
  o: { jobId: string; task: string; what: string; timeoutMs?: number; signal?: AbortSignal },
): Promise<AllocationStub> {
  const before = new Set((await periodicRuns(apis, o.jobId)).map((r) => r.id));
  await apis.nomad.forcePeriodicJob(o.jobId);
  const timeoutMs = o.timeoutMs ?? 180_000;
  return waitFor(
    {
      what: o.what,
      timeoutMs,
      intervalMs: 1000,
      ...(o.signal ? { signal: o.signal } : {}),
      message: () => `${o.what} did not finish within ${Math.round(timeoutMs / 1000)} s`,
      hint: `nomad job status ${o.jobId} shows its runs`,
    },
    async () => {
      const run = (await periodicRuns(apis, o.jobId)).find((r) => !before.has(r.id));
      if (!run) return notYet("no run yet");
      const { data: allocs } = await apis.nomad.jobAllocations(run.id);
      const finished = allocs.find((a) => a.ClientStatus === "complete");
      if (finished) return done(finished);
      const failed = allocs.find((a) => a.ClientStatus === "failed");
      if (failed) {
        const err = await apis.nomad.allocationLogTail(failed.ID, o.task, "stderr").catch(() => "");
        throw new OperationError(
          `${o.what} (${run.id}) failed on ${failed.NodeName ?? "?"}: ${err.trim().slice(-300) || "see nomad alloc status " + failed.ID}`,
        );
      }
      return notYet(`run ${run.id} under way`);
    },
  );
}

/**
 * Copies a file a run wrote on `host` to `file` here (0600): written aside, its size checked
 * against what the run reported, renamed when whole.
 */
export async function copyFromHost(
  config: LoadedConfig,
  host: InventoryHost,
  remote: string,
  file: string,
  bytes: number,
  signal?: AbortSignal,
): Promise<void> {
  const ssh = await connectToHost(config, host, "require-pinned", signal);
  try {
    const copied = await ssh.execStream(`cat ${remote}`, {
      stdout: createWriteStream(`${file}.partial`, { mode: 0o600 }),
    });
    if (copied.status !== 0)
      throw new OperationError(
        `copying ${remote} from ${host.name} failed: ${copied.stderr.trim()}`,
      );
  } finally {
    await ssh.close();
  }
  const size = (await stat(`${file}.partial`)).size;
  if (size !== bytes) {
    await rm(`${file}.partial`, { force: true });
    throw new OperationError(`${remote}: ${size} bytes arrived of ${bytes}`, "run backup again");
  }
  await rename(`${file}.partial`, file);
}
