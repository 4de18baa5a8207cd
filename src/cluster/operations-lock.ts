/**
 * The operations lock: bring-up, destroy and scale of one target never run at once. It lives in
 * this machine's `.elm-infra/<target>/` (a cluster may not exist yet, so it cannot live in
 * Consul): a lock directory made atomically by proper-lockfile, refreshed while the holder runs
 * and taken over once stale (its holder died), with a small file naming the holder.
 * A target whose configuration names a `store` keeps it there instead, as a lease object that
 * operators on every machine see (store/lease.ts; docs/shared-state.md).
 */
import { mkdir, rm, rmdir, writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { dirname, join } from "node:path";
import lockfile from "proper-lockfile";
import type { LoadedConfig } from "../config/load.js";
import { readUserFile } from "../config/read-file.js";
import { LockHeldError } from "../errors.js";
import { waitingLock, withLock, type HeldLock, type Lock } from "../lock.js";
import { targetPaths } from "./paths.js";

export interface OperationHolder {
  command: string;
  target: string;
  holder: string;
  pid: number;
  since: string;
}

export interface HeldOperationsLock extends HeldLock {
  holder: OperationHolder;
}

/** A holder that stops refreshing the lock for this long is taken to be dead. */
export const staleAfterMs = 20_000;

export function operationsLockPaths(stateDir: string): { lock: string; holder: string } {
  return { lock: join(stateDir, "operations.lock"), holder: join(stateDir, "operations.json") };
}

/** Takes the target's operations lock, or refuses (exit 3) naming who holds it. */
export async function acquireOperationsLock(
  stateDir: string,
  target: string,
  command: string,
  onLost: (message: string) => void = () => undefined,
): Promise<HeldOperationsLock> {
  // the first folder this made, if any: released with the lock when the command wrote nothing
  const made = await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const paths = operationsLockPaths(stateDir);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(stateDir, {
      lockfilePath: paths.lock,
      realpath: false,
      stale: staleAfterMs,
      update: staleAfterMs / 4,
      retries: 0,
      onCompromised: (error) =>
        onLost(`the operations lock of ${target} was lost: ${error.message}`),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    const holder = await readHolder(paths.holder);
    const who = holder ? describeHolder(holder) : undefined;
    throw new LockHeldError(
      `${command} refused: ${who ?? "another operation"} holds the operations lock of target ${target}`,
      `wait for it to finish and run again, or pass --lock-wait <duration> to wait; a lock whose holder died is taken over after ${staleAfterMs / 1000}s (${paths.lock})`,
      who,
    );
  }
  const holder: OperationHolder = {
    command,
    target,
    holder: `${userInfo().username}@${hostname()}`,
    pid: process.pid,
    since: new Date().toISOString(),
  };
  await writeFile(paths.holder, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  return {
    name: `operations lock of ${target}`,
    holder,
    release: async () => {
      await rm(paths.holder, { force: true });
      await release().catch(() => undefined);
      if (made) await removeEmptyFolders(stateDir, made);
    },
  };
}

/**
 * Removes `dir` and its parents up to `top` while they are empty: a refused command leaves no
 * new `.elm-infra/<target>/` behind (rmdir fails on a folder with anything in it, and stops).
 */
async function removeEmptyFolders(dir: string, top: string): Promise<void> {
  const removed = (at: string) =>
    rmdir(at).then(
      () => true,
      () => false,
    );
  // one step up per round: as many rounds as `dir` is deeper than `top`
  for (let at = dir; at.startsWith(top) && (await removed(at)) && at !== top; at = dirname(at));
}

/** The target's operations lock, behind the one Lock interface (src/lock.ts). */
export function operationsLock(
  stateDir: string,
  target: string,
  command: string,
  onLost: (message: string) => void = () => undefined,
): Lock {
  return {
    name: `operations lock of ${target}`,
    acquire: () => acquireOperationsLock(stateDir, target, command, onLost),
  };
}

export interface OperationsLockOptions {
  /** Said (a warning) when the lock is lost while held. */
  onLost: (message: string) => void;
  /** `--lock-wait`: wait this long for the holder to let go instead of refusing at once. */
  lockWaitSeconds?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs `work` holding the target's operations lock: the lease in the target's store when its
 * configuration names one (the store's conditional writes probed first), else the lock in this
 * machine's state folder.
 */
export async function withOperationsLock<T>(
  config: LoadedConfig,
  command: string,
  options: OperationsLockOptions,
  work: () => Promise<T>,
): Promise<T> {
  // the S3 client loads only for a target that has a store
  const store = config.target.store
    ? await (await import("./store.js")).openTargetStore(config, options.env ?? process.env)
    : undefined;
  try {
    const lock = store
      ? await store.operationsLock(command, options.onLost)
      : operationsLock(targetPaths(config).state, config.targetName, command, options.onLost);
    return await withLock(
      waitingLock(lock, (options.lockWaitSeconds ?? 0) * 1000, options.signal),
      work,
    );
  } finally {
    store?.close();
  }
}

export function describeHolder(h: OperationHolder): string {
  return `${h.command} by ${h.holder} (pid ${h.pid}, since ${h.since})`;
}

/**
 * Who holds the lock, as its holder wrote; undefined when the file is missing (not written yet)
 * or not what a holder writes. Read bounded: a FIFO, a directory or a huge file there is refused
 * (exit 2), not waited on.
 */
async function readHolder(file: string): Promise<OperationHolder | undefined> {
  const text = await readUserFile(file, {
    what: "lock holder file",
    maxBytes: 64_000,
    ifMissing: undefined,
    hint: "check the file's permissions (the lock's holder writes it 0600)",
  });
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as OperationHolder;
  } catch {
    return undefined;
  }
}
