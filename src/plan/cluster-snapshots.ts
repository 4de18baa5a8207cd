/**
 * The cluster's own state, pure: the periodic job that takes Nomad's and Consul's raft snapshots
 * on a worker (jobs/cluster-snapshot.nomad.hbs), encrypted with age to the recipient of the
 * secrets file's identity; the names of what it writes, and what its log says it wrote.
 */
import { UsageError } from "../errors.js";
import { cronProblem } from "../config/cron.js";
import type { Target } from "../config/schema.js";
import { defaultBackup, stampedTime, utcStamp } from "./package-data.js";
import { platformImageRef, type PlatformImage } from "./registry.js";
import type { ObservedBackup } from "./health.js";

/** The periodic batch job; its runs are `cluster-snapshot/periodic-<time>`. */
export const clusterSnapshotJobId = "cluster-snapshot";
/** The Nomad variable holding the job's tokens: readable by this job's tasks alone (and management). */
export const clusterSnapshotVariable = `nomad/jobs/${clusterSnapshotJobId}`;
/** The host volume on every worker (playbooks/roles/nomad), and where it is. */
export const clusterSnapshotsVolume = "cluster-snapshots";
export const clusterSnapshotsPath = "/srv/cluster-snapshots";
/** What each run writes, in a folder of its own: whole snapshot files once decrypted. */
export const snapshotFiles = ["nomad", "consul"] as const;
export type SnapshotSystem = (typeof snapshotFiles)[number];
export const snapshotFileName = (system: SnapshotSystem) => `${system}.snap.age`;

/**
 * The job's image (images/base/build.sh cluster-snapshot: Debian's curl and age), pushed to the
 * target's registry by bring-up. Its tag changes with its recipe: bump it with the recipe.
 */
export const snapshotPlatformImage: PlatformImage = {
  source: "elm-infra/cluster-snapshot:v1",
  name: "cluster-snapshot:v1",
  hint: "build it: bash images/base/build.sh cluster-snapshot",
};

/** Where the workers' Nomad and Consul APIs answer (their loopback; the job shares the host's network). */
const nomadAddress = "http://127.0.0.1:4646";
const consulAddress = "http://127.0.0.1:8500";

export interface SnapshotSettings {
  schedule: string;
  keep: number;
}

/** The target's `snapshots`, with the defaults (@hourly, the newest 24 kept). */
export function snapshotSettings(
  target: Pick<Target, "snapshots">,
  targetName: string,
): SnapshotSettings {
  const schedule = target.snapshots?.schedule ?? defaultBackup.schedule;
  const problem = cronProblem(schedule);
  if (problem)
    throw new UsageError(
      `targets.${targetName}.snapshots.schedule ${JSON.stringify(schedule)} ${problem}`,
    );
  return { schedule, keep: target.snapshots?.keep ?? defaultBackup.keep };
}

export interface ClusterSnapshotJobVars {
  job: { id: string; datacenters: string[] };
  schedule: string;
  keep: number;
  /** `tail -n +<pruneFrom>` lists what is older than the newest `keep`. */
  pruneFrom: number;
  image: string;
  volume: string;
  /** The age recipient (public key): all the cluster gets of the key. */
  recipient: string;
  variable: string;
  nomadAddress: string;
  consulAddress: string;
}

/** Pure: the variables of jobs/cluster-snapshot.nomad.hbs. */
export function clusterSnapshotJobVars(o: {
  target: Pick<Target, "registry" | "snapshots">;
  targetName: string;
  recipient: string;
}): ClusterSnapshotJobVars {
  const { schedule, keep } = snapshotSettings(o.target, o.targetName);
  return {
    job: { id: clusterSnapshotJobId, datacenters: ["dc1"] },
    schedule,
    keep,
    pruneFrom: keep + 1,
    image: platformImageRef(o.target, snapshotPlatformImage),
    volume: clusterSnapshotsVolume,
    recipient: o.recipient,
    variable: clusterSnapshotVariable,
    nomadAddress,
    consulAddress,
  };
}

/** `cluster-YYYYMMDDTHHMMSSZ`: the folder of one run's pair, on the worker and on this machine. */
export const snapshotName = (at: Date) => `cluster-${utcStamp(at)}`;
/** When a snapshot folder's pair was taken (the time in its name). */
export const snapshotTime = (name: string) => stampedTime(name, "cluster-");

/** What a run's last log line says it wrote (`snapshot: <name> nomad_bytes=... ...`). */
export interface SnapshotReport {
  name: string;
  files: Record<SnapshotSystem, { bytes: number; index?: number }>;
}

/** Reads a run's report from its log; undefined when it has none (the run failed). */
export function parseSnapshotReport(log: string): SnapshotReport | undefined {
  const line = log
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("snapshot: "));
  const name = line?.split(" ")[1];
  if (!line || !name || !snapshotTime(name)) return undefined;
  const field = (key: string) => new RegExp(`\\b${key}=(\\d+)`).exec(line)?.[1];
  const files = {} as SnapshotReport["files"];
  for (const system of snapshotFiles) {
    const bytes = field(`${system}_bytes`);
    if (bytes === undefined) return undefined;
    const index = field(`${system}_index`);
    files[system] = { bytes: Number(bytes), ...(index ? { index: Number(index) } : {}) };
  }
  return { name, files };
}

/** What status says of the snapshots: the schedule, and when the newest succeeded. */
export interface ClusterSnapshotsStatus {
  scheduled: boolean;
  schedule: string;
  keep: number;
  /** When the newest run that succeeded was started (ISO 8601). */
  newestAt?: string;
  /** Twice the schedule's period: older than that is degraded. */
  maxAgeSeconds: number;
}

/** For status --check: the snapshots judged as a backup is (none yet, or older than allowed). */
export function snapshotsAsBackup(s: ClusterSnapshotsStatus): ObservedBackup {
  return {
    service: clusterSnapshotJobId,
    subject: "cluster snapshots (Nomad, Consul)",
    ...(s.newestAt ? { lastSuccessAt: s.newestAt } : {}),
    maxAgeSeconds: s.maxAgeSeconds,
    ...(s.scheduled ? {} : { missing: "not scheduled: run bring-up" }),
  };
}
