/**
 * One way to take a lock, whatever keeps it: a Lock is acquired (or refused with LockHeldError
 * naming the holder) and the HeldLock it gives is released once. `withLock` runs work under a
 * lock and releases it afterwards whatever happened. Implementations: the target's operations
 * lock on this machine (cluster/operations-lock.ts) and the cluster-wide deploy lock in Consul
 * (consul/lock.ts); a shared remote lock is one more.
 */
import { ElmInfraError, LockHeldError, WaitTimeoutError } from "./errors.js";
import { done, notYet, waitFor } from "./wait.js";

export interface HeldLock {
  /** What is locked, as messages say it: `elm-infra/locks/deploy`, `operations lock of local`. */
  readonly name: string;
  release(): Promise<void>;
}

export interface Lock {
  readonly name: string;
  /** Takes it now, or throws LockHeldError (exit 3) naming who holds it. Never waits for it. */
  acquire(): Promise<HeldLock>;
}

export interface ReleaseOptions {
  /**
   * A release that fails after the work succeeded: said here instead of failing the work (the
   * work's result stands; the lock expires by itself). Without it the failure is thrown.
   */
  onReleaseFailed?: (error: Error) => void;
}

/**
 * `lock`, waiting up to `waitMs` for its holder to let go (`--lock-wait`) instead of refusing at
 * once; still held then, it refuses as the lock does (exit 3, the holder named), saying how long
 * it waited. Ctrl-C ends the wait.
 */
export function waitingLock(lock: Lock, waitMs: number, signal?: AbortSignal): Lock {
  if (waitMs <= 0) return lock;
  return {
    name: lock.name,
    acquire: async () => {
      let refused: LockHeldError | undefined;
      try {
        return await waitFor(
          {
            what: `the ${lock.name} to be free`,
            timeoutMs: waitMs,
            intervalMs: 1_000,
            ...(signal ? { signal } : {}),
          },
          async () => {
            try {
              return done(await lock.acquire());
            } catch (error) {
              if (!(error instanceof LockHeldError)) throw error;
              refused = error;
              return notYet(error.message);
            }
          },
        );
      } catch (error) {
        if (!(error instanceof WaitTimeoutError) || !refused) throw error;
        throw new LockHeldError(
          `${refused.message} (waited ${Math.round(waitMs / 1000)}s)`,
          refused.hint ?? "run again later",
          refused.holder,
        );
      }
    },
  };
}

/** Acquires `lock`, runs `work`, releases it afterwards whatever happened. */
export async function withLock<T>(
  lock: Lock,
  work: (held: HeldLock) => Promise<T>,
  options: ReleaseOptions = {},
): Promise<T> {
  const held = await lock.acquire();
  return releasingAfter(
    () => held,
    () => work(held),
    options,
  );
}

/**
 * Runs `work`, then releases the lock `held()` names then (one that a step inside the work may
 * take), whatever happened. A failed release after a failed work is added to the work's error.
 */
export async function releasingAfter<T>(
  held: () => HeldLock | undefined,
  work: () => Promise<T>,
  options: ReleaseOptions = {},
): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    const failed = await release(held());
    if (failed && error instanceof Error)
      error.message += `\nreleasing ${held()?.name ?? "the lock"} failed too: ${failed.message}`;
    throw error;
  }
  const failed = await release(held());
  if (failed) {
    if (!options.onReleaseFailed) throw failed;
    options.onReleaseFailed(failed);
  }
  return result;
}

async function release(lock: HeldLock | undefined): Promise<Error | undefined> {
  return lock?.release().then(
    () => undefined,
    (e: unknown) => (e instanceof Error ? e : new ElmInfraError(String(e))),
  );
}
