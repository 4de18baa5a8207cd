import { hostname, userInfo } from "node:os";
import { LockHeldError, OperationError } from "../errors.js";
import type { HeldLock, Lock } from "../lock.js";
import type { ConsulClient } from "./client.js";

export interface LockHolder {
  holder: string;
  command: string;
  since: string;
}

/** The key of the cluster-wide deploy lock: one deploy or rollback at a time. */
export const deployLockKey = "elm-infra/locks/deploy";

/** Whoever takes a lock from this process, as a refusal message will name them. */
export function lockHolder(command: string): LockHolder {
  return {
    holder: `${userInfo().username}@${hostname()} (pid ${process.pid})`,
    command,
    since: new Date().toISOString(),
  };
}

/** A held deploy lock: the Consul key it owns. */
export interface HeldConsulLock extends HeldLock {
  key: string;
}

export type { HeldLock };

/** The cluster-wide lock on `key` for `holder`, behind the one Lock interface (src/lock.ts). */
export function consulLock(
  consul: ConsulClient,
  key: string,
  holder: LockHolder,
  options: { ttlSeconds?: number } = {},
): Lock {
  return { name: key, acquire: () => acquireLock(consul, key, holder, options) };
}

/**
 * A cluster-wide lock: a Consul session with a TTL owns a KV key. The session is renewed while
 * the holder lives; if the holder dies, the TTL runs out and the lock goes with it, so a stale
 * lock expires by itself. A held lock refuses with who holds it and since when.
 */
export async function acquireLock(
  consul: ConsulClient,
  key: string,
  holder: LockHolder,
  options: { ttlSeconds?: number } = {},
): Promise<HeldConsulLock> {
  const ttl = options.ttlSeconds ?? 15;
  const session = await consul.createSession(`elm-infra ${holder.command}`, ttl);
  // Cleaning up after a refusal: a failure to destroy the session is said with the refusal.
  const refuse = async (error: unknown): Promise<never> => {
    const cleanup = await consul.destroySession(session).then(
      () => undefined,
      (e: Error) => e,
    );
    if (cleanup && error instanceof Error)
      error.message += `\n(the lock's session ${session} could not be destroyed either: ${cleanup.message}; it expires within ${ttl * 2} s)`;
    throw error;
  };
  const acquired = await consul
    .acquireKey(key, session, JSON.stringify(holder))
    .catch((error: unknown) => refuse(error));
  if (!acquired) {
    const who = await describeLockHolder(consul, key).catch((e: unknown) => refuse(e));
    return refuse(
      new LockHeldError(
        `${key} is locked by ${who ?? "another run"}`,
        `wait for it to finish; a lock whose holder died expires within ${ttl * 2}s`,
        who,
      ),
    );
  }
  // Renew at a third of the TTL. A failed renewal means the lock may be lost: said on release.
  let renewal: string | undefined;
  const timer = setInterval(
    () => {
      consul.renewSession(session).then(
        (alive) => {
          if (!alive) renewal = "its session expired";
        },
        (e: Error) => {
          renewal = `renewing it failed: ${e.message}`;
        },
      );
    },
    Math.max(1000, (ttl * 1000) / 3),
  );
  timer.unref();
  let released = false;
  return {
    key,
    name: key,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      const problems: string[] = [];
      await consul.releaseKey(key, session).catch((e: Error) => problems.push(e.message));
      await consul.destroySession(session).catch((e: Error) => problems.push(e.message));
      if (renewal) problems.unshift(`the lock may have been lost while held (${renewal})`);
      if (problems.length)
        throw new OperationError(
          `releasing the lock ${key} failed: ${problems.join("; ")}`,
          `a lock whose holder is gone expires within ${ttl * 2} s; check it with: consul kv get ${key}`,
        );
    },
  };
}

/** "who (what) since when" for a held lock; undefined when it is free. */
export async function describeLockHolder(
  consul: ConsulClient,
  key: string,
): Promise<string | undefined> {
  const current = await consul.readKey(key);
  if (!current?.session) return undefined;
  const who = parseHolder(current.value);
  return who ? `${who.holder} (${who.command}) since ${who.since}` : "another run";
}

function parseHolder(value: string | undefined): LockHolder | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<LockHolder>;
    if (typeof parsed.holder === "string" && typeof parsed.since === "string") {
      return { holder: parsed.holder, command: String(parsed.command ?? "?"), since: parsed.since };
    }
  } catch {
    /* not ours */
  }
  return undefined;
}
