/**
 * The operations lock of a target that shares its state, as a lease object in the store: taken
 * with put-if-absent holding who, since when, which command and until when; renewed while the
 * command runs (put-if-match on the ETag it last wrote); deleted at the end. A lease past its
 * expiry (its holder died) is taken over with put-if-match on the ETag read, so of two takers
 * only one wins. Behind the one Lock interface (src/lock.ts). `judgeLease` is the decision, pure.
 */
import { hostname, userInfo } from "node:os";
import { execa } from "execa";
import { LockHeldError, OperationError } from "../errors.js";
import type { HeldLock, Lock } from "../lock.js";
import type { StoreClient } from "./client.js";

export interface Lease {
  holder: string;
  command: string;
  target: string;
  since: string;
  /** ISO time after which another operator may take it over. */
  expires: string;
}

export interface LeaseOptions {
  /** How long a lease lasts without renewal (default 60 s). */
  ttlMs?: number;
  /** Said (a warning) when a renewal finds the lease taken or the store unreachable. */
  onLost?: (message: string) => void;
  now?: () => Date;
}

/** The lease's key under the target's prefix. */
export const leaseKey = "locks/operations.json";
export const defaultLeaseTtlMs = 60_000;

export type LeaseVerdict =
  { kind: "held"; lease: Lease } | { kind: "expired"; lease: Lease } | { kind: "unreadable" };

/** Is the lease found in the store still held at `now`, or may it be taken over? */
export function judgeLease(body: string, now: Date): LeaseVerdict {
  const lease = parseLease(body);
  if (!lease) return { kind: "unreadable" };
  return Date.parse(lease.expires) < now.getTime()
    ? { kind: "expired", lease }
    : { kind: "held", lease };
}

export function describeLease(l: Lease): string {
  return `${l.command} by ${l.holder} (since ${l.since})`;
}

/** The target's operations lock as a lease in `store`. */
export function storeLock(
  store: StoreClient,
  target: string,
  command: string,
  holder: string,
  options: LeaseOptions = {},
): Lock {
  const name = `operations lock of ${target} (in the store ${store.name})`;
  return { name, acquire: () => acquireLease(store, name, target, command, holder, options) };
}

async function acquireLease(
  store: StoreClient,
  name: string,
  target: string,
  command: string,
  holder: string,
  options: LeaseOptions,
): Promise<HeldLock> {
  const ttlMs = options.ttlMs ?? defaultLeaseTtlMs;
  const now = options.now ?? (() => new Date());
  const since = now().toISOString();
  const body = () =>
    JSON.stringify({
      holder,
      command,
      target,
      since,
      expires: new Date(now().getTime() + ttlMs).toISOString(),
    } satisfies Lease);
  let etag = await store.putIfAbsent(leaseKey, body());
  if (etag === undefined) {
    const found = await store.get(leaseKey);
    // released between the two requests: one more try, then it is someone else's again
    if (!found) etag = await store.putIfAbsent(leaseKey, body());
    else {
      const verdict = judgeLease(found.body, now());
      if (verdict.kind === "expired") etag = await store.putIfMatch(leaseKey, body(), found.etag);
      else if (verdict.kind === "held") throw refusal(store, target, command, verdict.lease);
      else
        throw new LockHeldError(
          `${command} refused: the operations lock of target ${target} holds something elm-infra did not write (${store.name}: ${leaseKey})`,
          `if no one is running a command on ${target}, delete ${leaseKey} in the store and run again`,
          undefined,
        );
    }
  }
  if (etag === undefined) {
    // another taker won between our read and our write: name them
    const found = await store.get(leaseKey);
    const verdict = found ? judgeLease(found.body, now()) : undefined;
    const lease = verdict && verdict.kind !== "unreadable" ? verdict.lease : undefined;
    throw refusal(store, target, command, lease);
  }
  return heldLease(store, name, etag, body, ttlMs, options.onLost ?? (() => undefined));
}

function refusal(
  store: StoreClient,
  target: string,
  command: string,
  lease: Lease | undefined,
): LockHeldError {
  const who = lease ? describeLease(lease) : undefined;
  return new LockHeldError(
    `${command} refused: ${who ?? "another operation"} holds the operations lock of target ${target}`,
    `wait for it to finish and run again, or pass --lock-wait <duration> to wait; a lock whose holder died is taken over after it expires${lease ? ` (${lease.expires})` : ""} (${store.name}: ${leaseKey})`,
    who,
  );
}

/** Renews the lease at a third of its TTL until released; a lost lease is said once. */
function heldLease(
  store: StoreClient,
  name: string,
  taken: string,
  body: () => string,
  ttlMs: number,
  onLost: (message: string) => void,
): HeldLock {
  let etag: string | undefined = taken;
  let lost: string | undefined;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    if (etag === undefined) return;
    try {
      etag = await store.putIfMatch(leaseKey, body(), etag);
      if (etag === undefined) lost = "another operator took it over (it had expired)";
    } catch (error) {
      // the lease still holds until it expires: the next round tries again
      lost = undefined;
      onLost(`renewing the ${name} failed: ${(error as Error).message}`);
      return;
    }
    if (lost) onLost(`the ${name} was lost: ${lost}`);
  };
  const timer = setInterval(
    () => {
      renewing = renewing.then(renew);
    },
    Math.max(1000, ttlMs / 3),
  );
  timer.unref();
  let released = false;
  return {
    name,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await renewing;
      if (etag === undefined) return; // lost: someone else's now
      const current = await store.get(leaseKey);
      if (current?.etag !== etag) return;
      await store.delete(leaseKey).catch((error: Error) => {
        throw new OperationError(
          `releasing the ${name} failed: ${error.message}`,
          `it expires by itself; or delete ${leaseKey} in the store`,
        );
      });
    },
  };
}

function parseLease(body: string): Lease | undefined {
  try {
    const l = JSON.parse(body) as Partial<Lease>;
    const fields = [l.holder, l.command, l.target, l.since, l.expires];
    if (fields.every((f) => typeof f === "string") && !Number.isNaN(Date.parse(l.expires!)))
      return l as Lease;
  } catch {
    /* not a lease */
  }
  return undefined;
}

/**
 * Who takes the lock, as a refusal names them: the CI's actor in CI, else git's user.email (or
 * user.name), else the login; with the machine's name.
 */
export async function operatorName(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ci =
    env.GITHUB_ACTOR ?? env.GITLAB_USER_LOGIN ?? env.BUILDKITE_BUILD_CREATOR ?? env.CIRCLE_USERNAME;
  if (ci) return `${ci} (CI) on ${hostname()}`;
  const git = async (key: string) =>
    execa("git", ["config", "--get", key], { reject: false, timeout: 3_000, stdin: "ignore" })
      .then((r) => (r.exitCode === 0 ? String(r.stdout).trim() : ""))
      .catch(() => "");
  const who = (await git("user.email")) || (await git("user.name")) || userInfo().username;
  return `${who} on ${hostname()}`;
}
