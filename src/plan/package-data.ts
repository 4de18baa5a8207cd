/**
 * The package site's data, pure: which worker holds it, the job pinned there, the backup export
 * beside the site, the periodic backup job kept off the holder, backup file names and their
 * recovery points, and cron schedules. No I/O: src/tasks/package-data.ts does the moving.
 */
import { UsageError } from "../errors.js";
import type { NomadJob } from "../nomad/types.js";
import { cronProblem } from "../config/cron.js";
import type { Target } from "../config/schema.js";
import { consulServiceName } from "./names.js";
import { platformImageRef, type PlatformImage } from "./registry.js";

/** Where the holder's host volume and the backups' host volume are on each worker. */
export const packageDataPath = "/srv/package-data";
export const packageBackupsPath = "/srv/package-backups";
/** The package image's user (images/package.elm-lang.org/Dockerfile): it owns the data. */
export const packageDataUid = 10001;

export const defaultBackup = { schedule: "@hourly", keep: 24 };

/** The local target's backup export image, made by images/base/build.sh tiny and pushed. */
export const exportPlatformImage: PlatformImage = {
  source: "elm-infra/tiny:busybox",
  name: "tiny:busybox",
  hint: "make it: bash images/base/build.sh tiny",
};

/**
 * The backup export runs busybox `httpd` with a CGI: the local target's tiny image (from its
 * registry; nothing can be pulled from the internet there), the official busybox image elsewhere.
 */
export function exportImage(target: Pick<Target, "provider" | "registry">): string {
  return target.provider === "local"
    ? platformImageRef(target, exportPlatformImage)
    : "busybox:1.36";
}

export interface BackupExport {
  port: number;
  /** Its Consul service: no traefik tags, so never routed. */
  service: string;
  image: string;
}

export function backupExport(
  service: string,
  target: Pick<Target, "provider" | "registry">,
): BackupExport {
  return {
    port: 8090,
    service: `${consulServiceName(service)}-backup-export`,
    image: exportImage(target),
  };
}

/** The periodic Nomad batch job taking a service's backups, e.g. `package.elm-lang.org-backup`. */
export const backupJobId = (service: string) => `${service}-backup`;

/**
 * The worker that holds the data: the one recorded (bring-up, a move, a restore) while it is
 * still a worker, else the one cluster.yaml names, else the lowest-numbered worker.
 */
export function choosePackageDataHost(o: {
  recorded?: string | undefined;
  configured?: string | undefined;
  workers: readonly string[];
}): string | undefined {
  for (const candidate of [o.recorded, o.configured]) {
    if (candidate && o.workers.includes(candidate)) return candidate;
  }
  return o.workers[0];
}

/**
 * Where a restore puts the data: `--to` when given (a worker), else the holder while it is ready,
 * else the first ready worker (the holder was lost).
 */
export function chooseRestoreHost(o: {
  to?: string | undefined;
  holder?: string | undefined;
  readyWorkers: readonly string[];
}): string {
  if (o.to) {
    if (!o.readyWorkers.includes(o.to))
      throw new UsageError(
        `--to ${o.to} is not a ready worker`,
        `ready workers: ${o.readyWorkers.join(", ") || "none"}`,
      );
    return o.to;
  }
  if (o.holder && o.readyWorkers.includes(o.holder)) return o.holder;
  const first = o.readyWorkers[0];
  if (!first)
    throw new UsageError("no worker is ready to take the data", "check `elm-infra status`");
  return first;
}

const nodeName = "${node.unique.name}";

interface Constraint {
  LTarget?: string;
  RTarget?: string;
  Operand?: string;
}

/**
 * The job with every group that mounts a host volume pinned to `node` (the constraint on the
 * node's name replaced or added): how a move, a restore or a rollback follows the data.
 */
export function repinJob(job: NomadJob, node: string): NomadJob {
  return {
    ...job,
    TaskGroups: job.TaskGroups?.map((group) => {
      const g = group as typeof group & { Constraints?: Constraint[] | null };
      if (!mountsVolume(g)) return group;
      const others = (g.Constraints ?? []).filter(
        (c) => !(c.LTarget === nodeName && c.Operand === "="),
      );
      return { ...g, Constraints: [...others, { LTarget: nodeName, RTarget: node, Operand: "=" }] };
    }),
  };
}

/** The read-only standby's group in a data service's job (jobs/package.elm-lang.org.nomad.hbs). */
export const standbyGroup = "standby";

/** Whether the job has a standby group (a job registered before there was one has none). */
export const hasStandby = (job: NomadJob): boolean =>
  (job.TaskGroups ?? []).some((g) => g.Name === standbyGroup);

const mountsVolume = (group: object) => {
  const volumes = (group as { Volumes?: object | null }).Volumes;
  return !!volumes && Object.keys(volumes).length > 0;
};

/** The job with one standby instance on `node`, or none (`undefined`): how a planned move runs it. */
export function withStandby(job: NomadJob, node: string | undefined): NomadJob {
  return {
    ...job,
    TaskGroups: job.TaskGroups?.map((group) => {
      if (group.Name !== standbyGroup) return group;
      const g = group as typeof group & { Constraints?: Constraint[] | null };
      const others = (g.Constraints ?? []).filter(
        (c) => !(c.LTarget === nodeName && c.Operand === "="),
      );
      return node === undefined
        ? { ...g, Count: 0, Constraints: others }
        : {
            ...g,
            Count: 1,
            Constraints: [...others, { LTarget: nodeName, RTarget: node, Operand: "=" }],
          };
    }),
  };
}

/** The job with every group that mounts the data volume at count 0 (the standby group untouched). */
export function withDataGroupsStopped(job: NomadJob): NomadJob {
  return {
    ...job,
    TaskGroups: job.TaskGroups?.map((g) => (mountsVolume(g) ? { ...g, Count: 0 } : g)),
  };
}

/** The names of the groups that mount the data volume. */
export const dataGroups = (job: NomadJob): string[] =>
  (job.TaskGroups ?? []).filter(mountsVolume).map((g) => g.Name);

/** The node a job's data groups are pinned to, if any. */
export function pinnedNode(job: NomadJob): string | undefined {
  for (const group of (job.TaskGroups ?? []).filter((g) => g.Name !== standbyGroup)) {
    const constraints = (group as { Constraints?: Constraint[] | null }).Constraints ?? [];
    const pin = constraints.find((c) => c.LTarget === nodeName && c.Operand === "=");
    if (pin?.RTarget) return pin.RTarget;
  }
  return undefined;
}

/** `YYYYMMDDTHHMMSSZ` (UTC), as the backup jobs' `date -u +%Y%m%dT%H%M%SZ` writes it. */
export function utcStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** The time a name says after `prefix` (a utcStamp, then `suffix`), or undefined. */
export function stampedTime(name: string, prefix: string, suffix = ""): Date | undefined {
  const base = name.split("/").pop() ?? name;
  if (!base.startsWith(prefix) || !base.endsWith(suffix)) return undefined;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(
    base.slice(prefix.length, base.length - suffix.length),
  );
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  return new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
}

/** `<service>-YYYYMMDDTHHMMSSZ.tar.gz`: the backup job and the CLI name files the same way. */
export function backupFileName(service: string, at: Date): string {
  return `${service}-${utcStamp(at)}.tar.gz`;
}

/** The recovery point in a backup file's name: when the data was read. */
export function backupTime(service: string, file: string): Date | undefined {
  return stampedTime(file, `${service}-`, ".tar.gz");
}

/** The newest backup of the service among file names (by the time in the name). */
export function newestBackup(service: string, files: readonly string[]): string | undefined {
  return files
    .filter((f) => backupTime(service, f))
    .sort((a, b) => backupTime(service, b)!.getTime() - backupTime(service, a)!.getTime())[0];
}

export interface BackupJobVars {
  job: { id: string; datacenters: string[] };
  service: string;
  schedule: string;
  /** The holder: the backups are kept on any other worker. */
  holder: string;
  exportService: string;
  image: string;
  volume: string;
  keep: number;
  /** `tail -n +<pruneFrom>` lists what is older than the newest `keep`. */
  pruneFrom: number;
}

/** Pure: the variables of jobs/package-backup.nomad.hbs. */
export function backupJobVars(o: {
  service: string;
  target: Pick<Target, "provider" | "registry">;
  holder: string;
  backup?: { schedule?: string | undefined; keep?: number | undefined } | undefined;
}): BackupJobVars {
  const schedule = o.backup?.schedule ?? defaultBackup.schedule;
  const problem = cronProblem(schedule);
  if (problem)
    throw new UsageError(
      `services.${o.service}.data.backup.schedule ${JSON.stringify(schedule)} ${problem}`,
    );
  const keep = o.backup?.keep ?? defaultBackup.keep;
  return {
    job: { id: backupJobId(o.service), datacenters: ["dc1"] },
    service: o.service,
    schedule,
    holder: o.holder,
    exportService: backupExport(o.service, o.target).service,
    image: exportImage(o.target),
    volume: "package-backups",
    keep,
    pruneFrom: keep + 1,
  };
}

/** One run of the periodic backup job, as Nomad lists its children. */
export interface BackupRun {
  id: string;
  /** Nanoseconds since the epoch, as Nomad's SubmitTime. */
  submitTime: number;
  status: string;
  complete: number;
  failed: number;
}

/** The newest run that completed, as the time it was submitted (what status --check compares). */
export function lastSuccessfulRun(runs: readonly BackupRun[]): Date | undefined {
  const ok = runs.filter((r) => r.complete > 0 && r.failed === 0);
  const newest = Math.max(...ok.map((r) => r.submitTime));
  return Number.isFinite(newest) ? new Date(newest / 1e6) : undefined;
}

/** Seconds between two runs of a schedule, for "a backup older than its schedule". */
export function scheduleSeconds(schedule: string): number {
  const aliases: Record<string, number> = {
    "@hourly": 3600,
    "@daily": 86400,
    "@weekly": 7 * 86400,
    "@monthly": 31 * 86400,
    "@yearly": 366 * 86400,
    "@annually": 366 * 86400,
  };
  const alias = aliases[schedule.trim()];
  if (alias) return alias;
  const [minute, hour] = schedule.trim().split(/\s+/);
  if (hour === "*") return minute?.startsWith("*/") ? Number(minute.slice(2)) * 60 : 3600;
  if (hour?.startsWith("*/")) return Number(hour.slice(2)) * 3600;
  return 86400;
}
