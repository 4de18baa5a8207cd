/**
 * The cluster's own state backed up: the periodic job that takes Nomad's and Consul's raft
 * snapshots on a worker, encrypted to the recipient of the secrets file's age identity (its
 * tokens in a Nomad variable only it reads), `backup cluster` forcing a run and copying the pair
 * here, and what status says of the newest.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { OperationError, UsageError } from "../errors.js";
import { renderTemplateFile } from "../nomad/render.js";
import { ageRecipient } from "../plan/age.js";
import {
  clusterSnapshotJobId,
  clusterSnapshotJobVars,
  clusterSnapshotsPath,
  clusterSnapshotVariable,
  parseSnapshotReport,
  snapshotFileName,
  snapshotFiles,
  snapshotPlatformImage,
  snapshotSettings,
  snapshotTime,
  type ClusterSnapshotsStatus,
  type SnapshotReport,
  type SnapshotSystem,
} from "../plan/cluster-snapshots.js";
import { lastSuccessfulRun, scheduleSeconds } from "../plan/package-data.js";
import type { ClusterApis } from "../cluster/connect.js";
import { workersOf, type Inventory } from "../cluster/inventory.js";
import { copyFromHost, periodicRuns, runPeriodicJobNow } from "./periodic.js";
import { localBackupsDir } from "./package-data.js";

type Log = (line: string) => void;

/** The task of the job (jobs/cluster-snapshot.nomad.hbs) whose log says what it wrote. */
const snapshotTask = "snapshot";

/** Does the target get the snapshot job? Not the dev agents on loopback: no workers, no volume. */
export const takesClusterSnapshots = (config: Pick<LoadedConfig, "target">) =>
  !config.target.endpoints;

/** The job's image in the target's registry, pushed from this machine (images/base/build.sh). */
export async function pushSnapshotImage(config: LoadedConfig, log: Log): Promise<void> {
  if (config.target.registry === "none") return;
  // Loaded here: dockerode is heavy, and status never needs it.
  const { pushPlatformImages } = await import("./registry.js");
  await pushPlatformImages(config, [snapshotPlatformImage], log);
}

/** The secrets the job needs: the recipient of the identity, and the two management tokens. */
function snapshotSecrets(config: LoadedConfig) {
  const { clusterSnapshotIdentity, nomadToken, consulToken } = config.secrets;
  if (!clusterSnapshotIdentity || !nomadToken || !consulToken)
    throw new OperationError(
      `the secrets of target ${config.targetName} lack ${[
        !clusterSnapshotIdentity && "clusterSnapshotIdentity",
        !nomadToken && "nomadToken",
        !consulToken && "consulToken",
      ]
        .filter(Boolean)
        .join(", ")}: the cluster's snapshots need them`,
      `bring-up generates them: elm-infra bring-up --target ${config.targetName}`,
    );
  return { recipient: ageRecipient(clusterSnapshotIdentity), nomadToken, consulToken };
}

export interface SnapshotsScheduled {
  /** The job was registered (new or changed) or its variable written. */
  changed: boolean;
  /** The first snapshot, taken at once when none had succeeded yet. */
  first?: SnapshotReport;
  /** `@hourly, newest 24 kept on each worker` */
  describe: string;
}

/**
 * The job's tokens written to its variable and the job registered, each only when it differs
 * from what runs; when no run has succeeded yet, one is forced and awaited (status --check
 * counts from it, and a broken image or token shows here rather than an hour later).
 */
export async function scheduleClusterSnapshots(
  config: LoadedConfig,
  apis: ClusterApis,
  o: { log: Log; signal?: AbortSignal },
): Promise<SnapshotsScheduled> {
  const { recipient, nomadToken, consulToken } = snapshotSecrets(config);
  let changed = false;
  const current = await apis.nomad.readVariable(clusterSnapshotVariable);
  if (current?.Items.nomad_token !== nomadToken || current.Items.consul_token !== consulToken) {
    await apis.nomad.writeVariable(clusterSnapshotVariable, {
      nomad_token: nomadToken,
      consul_token: consulToken,
    });
    o.log(`the job's tokens written to the Nomad variable ${clusterSnapshotVariable}`);
    changed = true;
  }
  const vars = clusterSnapshotJobVars({
    target: config.target,
    targetName: config.targetName,
    recipient,
  });
  const job = await apis.nomad.parseJob(
    await renderTemplateFile(join(config.root, "jobs/cluster-snapshot.nomad.hbs"), vars),
  );
  const running = await apis.nomad.readJob(clusterSnapshotJobId);
  const differs =
    !running || running.Stop === true || (await apis.nomad.planJob(job)).Diff?.Type !== "None";
  if (differs) {
    await apis.nomad.registerJob(job, running?.JobModifyIndex ?? 0);
    o.log(`${clusterSnapshotJobId} registered (${vars.schedule}, to ${recipient})`);
    changed = true;
  }
  const describe = `${vars.schedule}, newest ${vars.keep} kept on each worker`;
  if (lastSuccessfulRun(await periodicRuns(apis, clusterSnapshotJobId)))
    return { changed, describe };
  const { report } = await runSnapshotNow(apis, o.signal);
  o.log(`first snapshot taken: ${report.name}`);
  return { changed, first: report, describe };
}

async function runSnapshotNow(apis: ClusterApis, signal?: AbortSignal) {
  const alloc = await runPeriodicJobNow(apis, {
    jobId: clusterSnapshotJobId,
    task: snapshotTask,
    what: "the cluster's snapshot run",
    timeoutMs: 300_000,
    ...(signal ? { signal } : {}),
  });
  const log = await apis.nomad.allocationLogTail(alloc.ID, snapshotTask, "stdout");
  const report = parseSnapshotReport(log);
  if (!report)
    throw new OperationError(`the cluster's snapshot run wrote nothing: ${log.trim().slice(-300)}`);
  return { alloc, report };
}

export interface ClusterSnapshotTaken {
  /** `cluster-<time>`: the folder here and on the worker. */
  name: string;
  /** When the snapshots were taken (the time in the name). */
  takenAt: string;
  /** The worker that keeps it in the cluster, and the folder there. */
  host: string;
  remoteDir: string;
  /** The folder on this machine: .elm-infra/<target>/backups/cluster-<time>/ */
  dir: string;
  files: Array<{ system: SnapshotSystem; file: string; bytes: number; index?: number }>;
  /** How to read them: the identity is the secrets file's clusterSnapshotIdentity. */
  decrypt: string;
}

/**
 * `backup cluster`: forces a run of the snapshot job now, waits for it, and copies the pair it
 * wrote from that worker to .elm-infra/<target>/backups/cluster-<time>/ (each written aside,
 * renamed when whole).
 */
export async function takeClusterSnapshot(o: {
  config: LoadedConfig;
  inventory: Inventory;
  apis: ClusterApis;
  log: Log;
  signal?: AbortSignal;
}): Promise<ClusterSnapshotTaken> {
  if (!(await o.apis.nomad.readJob(clusterSnapshotJobId)))
    throw new UsageError(
      `target ${o.config.targetName} has no ${clusterSnapshotJobId} job`,
      `bring-up schedules it: elm-infra bring-up --target ${o.config.targetName}`,
    );
  const { alloc, report } = await runSnapshotNow(o.apis, o.signal);
  const host = workersOf(o.inventory).find((h) => h.name === alloc.NodeName);
  if (!host)
    throw new OperationError(
      `the snapshot ran on ${alloc.NodeName ?? "an unnamed node"}, not a worker of the inventory`,
    );
  o.log(`${report.name} taken on ${host.name}`);
  const dir = join(localBackupsDir(o.config), report.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const remoteDir = `${clusterSnapshotsPath}/${report.name}`;
  const files = [];
  for (const system of snapshotFiles) {
    const file = join(dir, snapshotFileName(system));
    const { bytes, index } = report.files[system];
    await copyFromHost(
      o.config,
      host,
      `${remoteDir}/${snapshotFileName(system)}`,
      file,
      bytes,
      o.signal,
    );
    files.push({ system, file, bytes, ...(index !== undefined ? { index } : {}) });
  }
  return {
    name: report.name,
    takenAt: snapshotTime(report.name)!.toISOString(),
    host: host.name,
    remoteDir,
    dir,
    files,
    decrypt: "age -d -i <a file holding the secrets file's clusterSnapshotIdentity> <file>",
  };
}

export function formatClusterSnapshot(r: ClusterSnapshotTaken): string {
  return [
    `cluster: Nomad's and Consul's snapshots of ${r.takenAt}, encrypted with age`,
    ...r.files.map(
      (f) =>
        `  ${f.system}: ${f.bytes} bytes${f.index !== undefined ? `, raft index ${f.index}` : ""}: ${f.file}`,
    ),
    `  in the cluster: ${r.host}:${r.remoteDir}`,
    "  decrypt with the identity in the secrets file (clusterSnapshotIdentity): age -d -i <identity file> <file>",
  ].join("\n");
}

/** The snapshot job's state for status; undefined on a target that takes none. */
export async function observeClusterSnapshots(
  config: LoadedConfig,
  apis: ClusterApis,
): Promise<ClusterSnapshotsStatus | undefined> {
  if (!takesClusterSnapshots(config)) return undefined;
  const { schedule, keep } = snapshotSettings(config.target, config.targetName);
  const scheduled = !!(await apis.nomad.readJob(clusterSnapshotJobId));
  const newest = scheduled
    ? lastSuccessfulRun(await periodicRuns(apis, clusterSnapshotJobId))
    : undefined;
  return {
    scheduled,
    schedule,
    keep,
    ...(newest ? { newestAt: newest.toISOString() } : {}),
    maxAgeSeconds: 2 * scheduleSeconds(schedule),
  };
}
