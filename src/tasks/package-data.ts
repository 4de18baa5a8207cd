/**
 * The package site's data: a volume OpenTofu attaches to one worker, the holder (the inventory's
 * packageDataHost), which mounts it; its backups (a periodic Nomad job off the holder, forced now
 * by `backup`); a move of the volume to another worker and a restore from a backup. Both stop the
 * site, change what the holder's volume holds or where it is, pin the job there, record the
 * holder and prove the site serves through Traefik.
 */
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type { LoadedConfig } from "../config/load.js";
import { lookUp } from "../config/lookup.js";
import { consulLock, deployLockKey, lockHolder } from "../consul/lock.js";
import { withLock } from "../lock.js";
import { OperationError, UsageError } from "../errors.js";
import { done, notYet, waitFor } from "../wait.js";
import type { NomadJob } from "../nomad/types.js";
import { renderTemplateFile } from "../nomad/render.js";
import {
  backupJobId,
  backupJobVars,
  backupTime,
  choosePackageDataHost,
  exportPlatformImage,
  lastSuccessfulRun,
  newestBackup,
  packageBackupsPath,
  packageDataPath,
  packageDataUid,
  dataGroups,
  hasStandby,
  pinnedNode,
  repinJob,
  scheduleSeconds,
  standbyGroup,
  withDataGroupsStopped,
  withStandby,
  type BackupRun,
} from "../plan/package-data.js";
import { standbyServiceName } from "../plan/job-vars.js";
import { restartSteps, type RolloutState } from "./rollout.js";
import { copyFromHost, periodicRuns, runPeriodicJobNow } from "./periodic.js";
import { runStepsWithin } from "./runner.js";
import type { SshConnection } from "../ssh/index.js";
import { connectToHost, type ClusterApis } from "../cluster/connect.js";
import {
  playbookHosts,
  workersOf,
  writeInventory,
  type Inventory,
  type InventoryHost,
} from "../cluster/inventory.js";
import { targetPaths } from "../cluster/paths.js";
import {
  countsOf,
  inventoryFromOutputs,
  prepareTerraform,
  withCounts,
} from "../cluster/terraform.js";
import { runPackageDataPlaybook } from "../ansible/site.js";
import { summarizePlan, type TofuPlanJson } from "../plan/bring-up.js";
import { buildsPlatformImages } from "../plan/registry.js";

type Log = (line: string) => void;

export interface PackageDataOptions {
  config: LoadedConfig;
  inventory: Inventory;
  apis: ClusterApis;
  log: Log;
  signal?: AbortSignal;
}

/** The services that keep data on a host volume (package.elm-lang.org). */
export function dataServices(config: Pick<LoadedConfig, "services">): string[] {
  return Object.entries(config.services)
    .filter(([, s]) => s.data)
    .map(([name]) => name);
}

function requireDataService(config: LoadedConfig, service: string) {
  const found = lookUp(config.services, service);
  if (!found?.data)
    throw new UsageError(
      `${service} keeps no data on a volume`,
      `services with data: ${dataServices(config).join(", ") || "none"}`,
    );
  return found;
}

/** The worker holding a service's data on this target, or undefined when it has no workers. */
export function packageDataHostOf(
  config: Pick<LoadedConfig, "services">,
  inventory: Inventory | undefined,
  service: string,
): string | undefined {
  if (!inventory) return undefined;
  return choosePackageDataHost({
    recorded: inventory.packageDataHost,
    configured: lookUp(config.services, service)?.data?.node,
    workers: workersOf(inventory).map((w) => w.name),
  });
}

/** The backup export's image in the local target's registry (elsewhere: the official busybox). */
export async function pushExportImage(config: LoadedConfig, log: Log): Promise<void> {
  if (!buildsPlatformImages(config.target)) return;
  // Loaded here: dockerode is heavy, and deploy's usage errors and status never need it.
  const { pushPlatformImages } = await import("./registry.js");
  await pushPlatformImages(config, [exportPlatformImage], log);
}

/** Registers the periodic backup job of a service, kept off `holder`. */
export async function scheduleBackups(
  config: LoadedConfig,
  apis: ClusterApis,
  service: string,
  holder: string,
): Promise<string> {
  const settings = requireDataService(config, service);
  const hcl = await renderTemplateFile(
    join(config.root, "jobs/package-backup.nomad.hbs"),
    backupJobVars({
      service,
      target: config.target,
      holder,
      backup: settings.data!.backup,
    }),
  );
  const job = await apis.nomad.parseJob(hcl);
  const current = await apis.nomad.readJob(job.ID);
  await apis.nomad.registerJob(job, current?.JobModifyIndex ?? 0);
  // The first backup at once, not a schedule's period later (status --check counts from it).
  if (!current) await apis.nomad.forcePeriodicJob(job.ID);
  return `${job.ID} (${backupJobVars({ service, target: config.target, holder, backup: settings.data!.backup }).schedule}, not on ${holder})`;
}

// ------------------------------------------------------------------------------------------
// Moving the data: the site stops, one host volume is replaced, the job follows

function hostNamed(inventory: Inventory, name: string): InventoryHost {
  const host = workersOf(inventory).find((h) => h.name === name);
  if (!host)
    throw new UsageError(
      `${name} is not a worker of target ${inventory.target}`,
      `workers: ${workersOf(inventory)
        .map((w) => w.name)
        .join(", ")}`,
    );
  return host;
}

/** Replaces the holder's volume with the archive on stdin; extracted aside first, owned by the site's user. */
export const replaceVolumeScript = (dir = packageDataPath, uid = packageDataUid) =>
  [
    "set -e",
    `d=${dir}; s=$d/.elm-infra-incoming`,
    'rm -rf "$s"; mkdir "$s"',
    'tar -xzf - -C "$s" --no-same-owner',
    'find "$d" -mindepth 1 -maxdepth 1 ! -name .elm-infra-incoming -exec rm -rf {} +',
    'find "$s" -mindepth 1 -maxdepth 1 -exec mv {} "$d"/ \\;',
    'rmdir "$s"',
    `chown -R ${uid}:${uid} "$d"`,
    'echo "files=$(find "$d" -type f | wc -l)"',
  ].join("\n");

async function pipeArchive(
  from: { ssh: SshConnection; command: string } | Readable,
  to: SshConnection,
): Promise<{ files: number }> {
  const flow = "ssh" in from ? new PassThrough() : from;
  const sending =
    "ssh" in from ? from.ssh.execStream(from.command, { stdout: flow as PassThrough }) : undefined;
  const output = new PassThrough();
  let text = "";
  output.on("data", (c: Buffer) => (text += c.toString()));
  const [sent, received] = await Promise.all([
    sending,
    to.execStream(replaceVolumeScript(), { stdin: flow, stdout: output }),
  ]);
  if (sent && sent.status !== 0)
    throw new OperationError(
      `reading the data failed (exit ${sent.status}): ${sent.stderr.trim()}`,
    );
  if (received.status !== 0)
    throw new OperationError(
      `writing the data on ${to.label} failed (exit ${received.status}): ${received.stderr.trim()}`,
      "the previous content is kept until the archive was extracted whole; run again",
    );
  return { files: Number(/files=(\d+)/.exec(text)?.[1] ?? 0) };
}

/** Until no allocation of the service's `groups` (every group when none is named) runs. */
async function waitUntilStopped(
  o: PackageDataOptions,
  service: string,
  groups?: readonly string[],
): Promise<void> {
  const what = groups
    ? `${service}'s ${groups.join(", ")} allocations`
    : `${service}'s allocations`;
  await waitFor(
    {
      what: `${what} to stop`,
      timeoutMs: 120_000,
      intervalMs: 500,
      ...(o.signal ? { signal: o.signal } : {}),
      message: () => `${what} did not stop within 2 minutes`,
    },
    async () => {
      const { data } = await o.apis.nomad.jobAllocations(service);
      const running = data.filter(
        (a) =>
          ["running", "pending"].includes(a.ClientStatus) &&
          (!groups || groups.includes(a.TaskGroup)),
      );
      return running.length === 0 ? done(undefined) : notYet(`${running.length} still running`);
    },
  );
}

/** The job registered as `change` makes it from the one registered now (its modify index enforced). */
async function registerChanged(
  o: PackageDataOptions,
  service: string,
  change: (job: NomadJob) => NomadJob,
): Promise<void> {
  const current = await o.apis.nomad.readJob(service);
  if (!current) throw new OperationError(`${service}'s job is gone from Nomad`);
  await o.apis.nomad.registerJob(change(current), current.JobModifyIndex ?? 0);
}

/**
 * Until the standby passes its health check in Consul and Traefik has its router: from then on,
 * every refresh of a Traefik's catalog that drops the site's own routers has the standby's.
 */
async function waitForStandby(o: PackageDataOptions, service: string): Promise<void> {
  const name = standbyServiceName(service);
  await waitFor(
    {
      what: `${service}'s standby to serve`,
      timeoutMs: 180_000,
      intervalMs: 1000,
      ...(o.signal ? { signal: o.signal } : {}),
      message: (reason) => `${service}'s standby did not serve within 3 minutes: ${reason}`,
    },
    async () => {
      const passing = await o.apis.consul.serviceHealth(name, { passingOnly: true });
      if (passing.length === 0) return notYet(`no instance of ${name} passes its check`);
      return (await o.apis.traefik.router(name))
        ? done(undefined)
        : notYet(`Traefik has no router ${name} yet`);
    },
  );
}

/**
 * Registers the job pinned to `holder` and rolls it out with the rollout's own named steps
 * (canary, its proof through Traefik, promotion, every allocation healthy, every hostname
 * serving): the same as deploy and rollback.
 */
async function startPinned(o: PackageDataOptions, job: NomadJob, holder: string): Promise<void> {
  const service = job.ID;
  const current = await o.apis.nomad.readJob(service);
  const pinned = repinJob({ ...job, Stop: false }, holder);
  await o.apis.nomad.registerJob(pinned, current?.JobModifyIndex ?? 0);
  const state: RolloutState = {
    config: o.config,
    ref: { service, version: job.Meta?.version ?? "" },
    apis: o.apis,
    job: pinned,
    jobVersion: (await o.apis.nomad.readJob(service))?.Version ?? 0,
  };
  await runStepsWithin(restartSteps(), state, {
    log: o.log,
    setTitle: () => undefined,
    signal: o.signal ?? new AbortController().signal,
  });
}

/**
 * The site stopped (the deploy lock held, so no deploy starts meanwhile), `replace` writes the
 * new holder's volume, the holder is recorded, the job started pinned there and proven through
 * Traefik, the backups re-scheduled off it. With `standby` (a planned move: the data is still
 * readable where it is), a read-only standby on the new holder serves a copy of the data first,
 * so the reads keep being answered and only the writes wait; it stops once the site serves
 * again. Returns how long the site's own instances were stopped.
 */
async function withSiteStopped(
  o: PackageDataOptions & {
    service: string;
    to: string;
    why: string;
    standby: boolean;
    onStopped?: () => void;
  },
  replace: () => Promise<void>,
): Promise<{ downMs: number; readsServed: boolean }> {
  const { apis, service } = o;
  const job = await apis.nomad.readJob(service);
  if (!job || job.Stop === true)
    throw new UsageError(
      `${service} is not deployed on target ${o.config.targetName}`,
      `deploy it first: elm-infra deploy ${service}@<version>`,
    );
  const standby = o.standby && hasStandby(job);
  if (o.standby && !standby)
    o.log(
      `${service}'s job has no standby (registered before elm-infra ran one): the site is down while its data moves; its next deploy adds one`,
    );
  const lock = consulLock(apis.consul, deployLockKey, lockHolder(o.why));
  const onReleaseFailed = (e: Error) => o.log(`releasing the deploy lock failed: ${e.message}`);
  return withLock(
    lock,
    async () => {
      if (standby) {
        o.log(
          `starting a read-only standby of ${service} on ${o.to}: a copy of its data answers the reads while the data moves`,
        );
        await registerChanged(o, service, (current) => withStandby(current, o.to));
        await waitForStandby(o, service);
      }
      const began = Date.now();
      if (standby) {
        o.log(`stopping ${service}'s own instances (the standby answers the reads; writes wait)`);
        await registerChanged(o, service, withDataGroupsStopped);
        await waitUntilStopped(o, service, dataGroups(job));
      } else {
        o.log(`stopping ${service} (the site is down from now)`);
        await apis.nomad.stopJob(service);
        await waitUntilStopped(o, service);
      }
      o.onStopped?.();
      await replace();
      o.inventory.packageDataHost = o.to;
      await writeInventory(o.config, o.inventory);
      // another operator's next command plans with the new holder (the store's copy too)
      if (o.config.target.store)
        await (await import("../cluster/shared-state.js")).shareInventory(o.config, process.env);
      o.log(`the inventory records ${o.to} as the holder of ${service}'s data`);
      o.log(`starting ${service} on ${o.to}`);
      await startPinned(o, standby ? withStandby(job, o.to) : job, o.to);
      const downMs = Date.now() - began;
      o.log(
        `${service} serves again through Traefik: ${standby ? "writes waited" : "down"} for ${(downMs / 1000).toFixed(1)} s`,
      );
      if (standby) {
        await registerChanged(o, service, (current) => withStandby(current, undefined));
        await waitUntilStopped(o, service, [standbyGroup]);
        o.log(`the standby of ${service} stopped`);
      }
      o.log(`backups: ${await scheduleBackups(o.config, apis, service, o.to)}`);
      return { downMs, readsServed: standby };
    },
    { onReleaseFailed },
  );
}

/** The unit that mounts the volume at boot on its holder (playbooks/roles/package_data). */
const packageDataUnit = "/etc/systemd/system/elm-infra-package-data.service";

/** Each module's attachment of the volume: what a move plans and applies, nothing else. */
const attachmentAddresses: Record<LoadedConfig["target"]["provider"], string[]> = {
  local: ["terraform_data.package_data_attachment"],
  digitalocean: ["digitalocean_volume_attachment.package_data"],
};

/**
 * The volume given to `to`, on both targets by the same steps: unmounted where it is (when that
 * worker answers; a lost one has nothing mounted any more), OpenTofu's attachment moved by
 * `package_data_host` (only the attachment: a plan that touches a host is refused), then the
 * package-data playbook on `to` mounts it (formatting it only if blank). The site is stopped.
 */
export async function attachVolume(
  o: PackageDataOptions & { from: string | undefined; to: string },
): Promise<void> {
  const from = o.from ? workersOf(o.inventory).find((h) => h.name === o.from) : undefined;
  if (from) {
    const ssh = await connectToHost(o.config, from, "require-pinned", o.signal).catch(
      (error: unknown) => {
        if (o.signal?.aborted) throw error;
        return undefined;
      },
    );
    if (!ssh) o.log(`${from.name} does not answer over SSH: nothing to unmount there`);
    else
      try {
        // Its boot-time mount goes too (the package_data role's unit): the volume leaves.
        const r = await ssh.exec(
          [
            `if mountpoint -q ${packageDataPath}; then sync; umount ${packageDataPath}; fi`,
            `rm -f ${packageDataUnit}`,
            "systemctl daemon-reload",
          ].join(" && "),
          { timeoutMs: 60_000 },
        );
        if (r.status !== 0)
          throw new OperationError(
            `unmounting the package data volume on ${from.name} failed: ${r.stderr.trim()}`,
            `find what still uses ${packageDataPath} there (fuser -vm ${packageDataPath}), then run again`,
          );
        o.log(`the volume is unmounted on ${from.name}`);
      } finally {
        await ssh.close();
      }
  }
  const { tf } = await prepareTerraform(withCounts(o.config, countsOf(o.inventory)), {
    packageDataHost: o.to,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const plan = await tf.plan({ targets: attachmentAddresses[o.config.target.provider] });
  const { hosts } = summarizePlan((await tf.showPlan(plan.planFile)) as TofuPlanJson);
  if (hosts.create.length + hosts.replace.length + hosts.destroy.length > 0) {
    await tf.discardPlan(plan.planFile);
    throw new OperationError(
      `OpenTofu's plan to attach the package data volume to ${o.to} would also change hosts (${[...hosts.create, ...hosts.replace, ...hosts.destroy].join(", ")}); nothing was applied`,
      "run bring-up to converge the machines with cluster.yaml first, then run again",
    );
  }
  if (plan.hasChanges) await tf.apply(plan.planFile);
  else await tf.discardPlan(plan.planFile);
  const device = inventoryFromOutputs(o.config.targetName, await tf.outputs()).packageDataDevice;
  if (!device) throw new OperationError("OpenTofu's outputs name no package data device");
  o.log(`OpenTofu attached the volume to ${o.to} (${device})`);
  const paths = targetPaths(o.config);
  await runPackageDataPlaybook({
    hosts: playbookHosts(workersOf(o.inventory)),
    volume: { host: o.to, device },
    privateKeyPath: paths.privateKey,
    knownHostsPath: paths.knownHosts,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  o.inventory.packageDataDevice = device;
  o.log(`the volume is mounted on ${o.to}:${packageDataPath}`);
}

/** A move's cost as a sentence's end: reads served by the standby and writes waiting, or the site down. */
export const describeMove = (m: { downMs: number; readsServed: boolean }) =>
  m.readsServed
    ? `a standby served the reads; writes waited ${m.downMs} ms`
    : `the site was down ${m.downMs} ms`;

/**
 * Moves the package data from one worker to another (a drain or retirement of `from`): the site
 * stops, the volume follows (attachVolume), the job is pinned to `to`, and the site serves
 * again through Traefik. `downMs` is measured from the stop to that proof. `onLeftFrom` is
 * called once none of the site's own allocations runs on `from` any more (the rest of the move
 * needs nothing of `from`'s Nomad: a drain of it may begin then).
 */
export async function movePackageData(
  o: PackageDataOptions & { from: string; to: string; service?: string; onLeftFrom?: () => void },
): Promise<{ downMs: number; readsServed: boolean; files: number }> {
  const service = o.service ?? dataServices(o.config)[0];
  if (!service) throw new UsageError("no service keeps data on a volume: nothing to move");
  if (o.from === o.to) throw new UsageError(`${o.from} holds the data already`);
  hostNamed(o.inventory, o.to);
  let files = 0;
  const result = await withSiteStopped(
    {
      ...o,
      service,
      to: o.to,
      why: `move ${service}'s data to ${o.to}`,
      standby: true,
      ...(o.onLeftFrom ? { onStopped: o.onLeftFrom } : {}),
    },
    async () => {
      await attachVolume({ ...o, from: o.from, to: o.to });
      files = await countFiles(o, o.to);
      o.log(`${files} files on ${o.to}`);
    },
  );
  return { ...result, files };
}

/**
 * After bring-up gave the volume a new holder (the old one was lost, and OpenTofu attached the
 * volume to a surviving or new worker): each data service still pinned elsewhere is started on
 * the holder with every byte the volume kept, proven through Traefik, its backups kept off it.
 */
export async function followVolume(
  o: PackageDataOptions,
): Promise<Array<{ service: string; holder: string; startMs: number }>> {
  const holder = o.inventory.packageDataHost;
  if (!holder) return [];
  const started = [];
  for (const service of dataServices(o.config)) {
    const job = await o.apis.nomad.readJob(service);
    if (!job || job.Stop === true || pinnedNode(job) === holder) continue;
    o.log(
      `${service} is pinned to ${pinnedNode(job) ?? "no worker"}; its data volume is on ${holder}`,
    );
    const { downMs } = await withSiteStopped(
      {
        ...o,
        service,
        to: holder,
        why: `start ${service} where its data is (${holder})`,
        standby: false,
      },
      async () => undefined,
    );
    started.push({ service, holder, startMs: downMs });
  }
  return started;
}

/** The files on the holder's volume. */
async function countFiles(o: PackageDataOptions, holder: string): Promise<number> {
  const ssh = await connectToHost(
    o.config,
    hostNamed(o.inventory, holder),
    "require-pinned",
    o.signal,
  );
  try {
    const { stdout } = await ssh.exec(`find ${packageDataPath} -type f | wc -l`, {
      timeoutMs: 60_000,
    });
    return Number(stdout.trim()) || 0;
  } finally {
    await ssh.close();
  }
}

// ------------------------------------------------------------------------------------------
// Backups

/** Where `backup` keeps the copies on the operator's machine: `.elm-infra/<target>/backups`. */
export const localBackupsDir = (config: Pick<LoadedConfig, "root" | "targetName" | "target">) =>
  join(targetPaths(config).state, "backups");

export interface BackupTaken {
  service: string;
  /** The copy on this machine. */
  file: string;
  /** The worker that keeps it in the cluster, and its name there. */
  host: string;
  remoteFile: string;
  bytes: number;
  files: number;
  /** When the data was read (the time in the file's name). */
  recoveryPoint: string;
}

/** The runs of the periodic backup job Nomad still knows. */
export const backupRuns = (apis: ClusterApis, service: string): Promise<BackupRun[]> =>
  periodicRuns(apis, backupJobId(service));

/**
 * For `status --check`: each data service whose backups are scheduled (it was deployed), its
 * last successful backup and the age it may reach (twice the schedule's period, so a run in
 * progress is not "late").
 */
export async function observeBackups(
  config: LoadedConfig,
  apis: ClusterApis,
): Promise<Array<{ service: string; lastSuccessAt?: string; maxAgeSeconds: number }>> {
  const scheduled = [];
  for (const service of dataServices(config))
    if (await apis.nomad.readJob(backupJobId(service))) scheduled.push(service);
  return Promise.all(
    scheduled.map(async (service) => {
      const last = lastSuccessfulRun(await backupRuns(apis, service));
      const schedule = config.services[service]!.data!.backup?.schedule ?? "@hourly";
      return {
        service,
        ...(last ? { lastSuccessAt: last.toISOString() } : {}),
        maxAgeSeconds: 2 * scheduleSeconds(schedule),
      };
    }),
  );
}

/**
 * Takes a backup now: forces the periodic job, waits for its run, then copies the file it wrote
 * from that worker to this machine (written aside, renamed when whole).
 */
export async function takeBackup(
  o: PackageDataOptions & { service: string },
): Promise<BackupTaken> {
  const { apis, service } = o;
  requireDataService(o.config, service);
  const id = backupJobId(service);
  if (!(await apis.nomad.readJob(id)))
    throw new UsageError(
      `${service} has no backup schedule on target ${o.config.targetName}`,
      `deploy ${service} (deploy schedules its backups): elm-infra deploy ${service}@<version>`,
    );
  const alloc = await runPeriodicJobNow(apis, {
    jobId: id,
    task: "fetch",
    what: `the backup run of ${service}`,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  o.log(`${id} ran on ${alloc.NodeName ?? "?"}`);
  const log = await apis.nomad.allocationLogTail(alloc.ID, "fetch", "stdout");
  const m = /backup: (\S+) files=(\d+) bytes=(\d+)/.exec(log);
  if (!m) throw new OperationError(`the backup run wrote no file: ${log.trim().slice(-300)}`);
  const [, name, files, bytes] = m;
  const host = hostNamed(o.inventory, alloc.NodeName ?? "");
  const dir = localBackupsDir(o.config);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name!);
  const remoteFile = `${packageBackupsPath}/${name}`;
  await copyFromHost(o.config, host, remoteFile, file, Number(bytes), o.signal);
  return {
    service,
    file,
    host: host.name,
    remoteFile,
    bytes: Number(bytes),
    files: Number(files),
    recoveryPoint: backupTime(service, name!)!.toISOString(),
  };
}

// ------------------------------------------------------------------------------------------
// Restore

export interface RestoreSource {
  /** A file on this machine, or a file in a worker's backup volume. */
  local?: string;
  remote?: { host: string; file: string };
  /** The recovery point: when the backup's data was read. */
  recoveryPoint: string;
}

/** The newest backup in the cluster: each reachable worker's backup volume is listed. */
export async function newestBackupInCluster(
  o: PackageDataOptions & { service: string },
): Promise<RestoreSource | undefined> {
  const found: Array<{ host: string; file: string }> = [];
  for (const host of workersOf(o.inventory)) {
    // A host that does not answer is skipped; Ctrl-C is not a host that does not answer.
    const ssh = await connectToHost(o.config, host, "require-pinned", o.signal).catch(
      (error: unknown) => {
        if (o.signal?.aborted) throw error;
        return undefined;
      },
    );
    if (!ssh) {
      o.log(`${host.name} does not answer over SSH: its backups are not looked at`);
      continue;
    }
    try {
      const { stdout } = await ssh.exec(`ls -1 ${packageBackupsPath} 2>/dev/null || true`, {
        timeoutMs: 30_000,
      });
      const newest = newestBackup(o.service, stdout.split("\n"));
      if (newest) found.push({ host: host.name, file: `${packageBackupsPath}/${newest}` });
    } finally {
      await ssh.close();
    }
  }
  const best = newestBackup(
    o.service,
    found.map((f) => f.file),
  );
  const at = found.find((f) => f.file === best);
  return at
    ? { remote: at, recoveryPoint: backupTime(o.service, at.file)!.toISOString() }
    : undefined;
}

/**
 * Puts a backup back onto `to` (the holder, or another worker when the holder was lost): the
 * site stops, the volume's content is replaced, the job is pinned there and proven.
 */
export async function restorePackageData(
  o: PackageDataOptions & { service: string; to: string; source: RestoreSource },
): Promise<{ downMs: number; files: number }> {
  const to = hostNamed(o.inventory, o.to);
  let files = 0;
  const result = await withSiteStopped(
    { ...o, why: `restore ${o.service}'s data on ${o.to}`, standby: false },
    async () => {
      // Another worker (--to, or the holder was lost): the volume goes there first.
      const holder = o.inventory.packageDataHost;
      if (holder !== o.to) await attachVolume({ ...o, from: holder, to: o.to });
      const target = await connectToHost(o.config, to, "require-pinned", o.signal);
      const source = o.source.remote
        ? await connectToHost(
            o.config,
            hostNamed(o.inventory, o.source.remote.host),
            "require-pinned",
            o.signal,
          )
        : undefined;
      try {
        o.log(`writing the backup of ${o.source.recoveryPoint} into ${o.to}:${packageDataPath}`);
        ({ files } = await pipeArchive(
          source
            ? { ssh: source, command: `cat ${o.source.remote!.file}` }
            : createReadStream(o.source.local!),
          target,
        ));
        o.log(`${files} files on ${o.to}`);
      } finally {
        await Promise.all([target.close(), source?.close()]);
      }
    },
  );
  return { ...result, files };
}
