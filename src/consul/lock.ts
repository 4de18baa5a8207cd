import { hostname, userInfo } from "node:os";
import { ConflictError, OperationError } from "../errors.js";
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

export interface HeldLock {
  key: string;
  release(): Promise<void>;
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
): Promise<HeldLock> {
  const ttl = options.ttlSeconds ?? 15;
  const session = await consul.createSession(`elm-infra ${holder.command}`, ttl);
  const acquired = await consul
    .acquireKey(key, session, JSON.stringify(holder))
    .catch(async (error: unknown) => {
      await consul.destroySession(session).catch(() => undefined);
      throw error;
    });
  if (!acquired) {
    await consul.destroySession(session).catch(() => undefined);
    const who = await describeLockHolder(consul, key);
    throw new ConflictError(
      `${key} is locked by ${who ?? "another run"}`,
      `wait for it to finish; a lock whose holder died expires within ${ttl * 2}s`,
    );
  }
  // Renew at a third of the TTL. A failed renewal means the lock is lost: say so on release.
  let lost = false;
  const timer = setInterval(
    () => {
      consul.renewSession(session).then(
        (alive) => {
          if (!alive) lost = true;
        },
        () => undefined,
      );
    },
    Math.max(1000, (ttl * 1000) / 3),
  );
  timer.unref();
  let released = false;
  return {
    key,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await consul.releaseKey(key, session).catch(() => undefined);
      await consul.destroySession(session).catch(() => undefined);
      if (lost)
        throw new OperationError(
          `the lock ${key} expired while held (Consul could not be reached to renew it)`,
        );
    },
  };
}

/** "who (what) since when" for a held lock; undefined when it is free. */
export async function describeLockHolder(
  consul: ConsulClient,
  key: string,
): Promise<string | undefined> {
  const current = await consul.readKey(key).catch(() => undefined);
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
