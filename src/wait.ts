/**
 * The one way elm-infra waits for something: `waitFor` polls a check until it says done, bounded
 * by a deadline and a number of rounds, abortable, and its failure cannot be ignored (it throws a
 * WaitTimeoutError carrying the last reason). `sleep` is the one pause; both listen to the abort
 * signal with a single listener that is removed afterwards.
 */
import { abortReason, WaitTimeoutError } from "./errors.js";

export { WaitTimeoutError };

/** What one look found: done (with a value), or not yet (with what was seen, for the message). */
export type Look<T> = { done: true; value: T } | { done: false; reason: string };

export const done = <T>(value: T): Look<T> => ({ done: true, value });
export const notYet = (reason: string): Look<never> => ({ done: false, reason });

export interface WaitOptions {
  /** What is awaited, as the message will say it: "Traefik on w1 to answer". */
  what: string;
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between looks; 0 when the check itself blocks (a blocking query). */
  intervalMs: number;
  /** Give up after this many looks too; default: enough for the deadline at the interval. */
  maxAttempts?: number;
  signal?: AbortSignal;
  hint?: string;
  /** The failure's message, when the default "timed out after Ns waiting for <what> (last: ...)" does not fit. */
  message?: (t: { last: string; attempts: number; seconds: number }) => string;
}

/**
 * Looks with `check` until it is done; returns its value. Throws WaitTimeoutError after
 * `timeoutMs` or `maxAttempts` looks, and the abort reason (InterruptedError, exit 130) at once
 * when the signal aborts, even while a check that does not listen to the signal is in flight.
 */
export async function waitFor<T>(
  options: WaitOptions,
  check: (attempt: number, signal: AbortSignal | undefined) => Promise<Look<T>>,
): Promise<T> {
  const { signal } = options;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const maxAttempts =
    options.maxAttempts ??
    Math.max(1, Math.ceil(options.timeoutMs / Math.max(options.intervalMs, 100))) + 1;
  let last = "";
  let attempts = 0;
  const aborted = abortedPromise(signal);
  try {
    while (attempts < maxAttempts && (attempts === 0 || Date.now() < deadline)) {
      if (signal?.aborted) throw abortReason(signal);
      attempts += 1;
      const seen = await Promise.race([check(attempts, signal), aborted.promise]);
      if (seen.done) return seen.value;
      last = seen.reason;
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (options.intervalMs > 0) await pause(Math.min(options.intervalMs, left), aborted);
    }
  } finally {
    aborted.dispose();
  }
  const seconds = Math.round(options.timeoutMs / 1000);
  const message =
    options.message?.({ last, attempts, seconds }) ??
    `timed out after ${seconds}s waiting for ${options.what}${last ? ` (last: ${last})` : ""}`;
  throw new WaitTimeoutError(message, options.hint, options.what, last, attempts);
}

/** Pauses `ms`; rejects with the abort reason (InterruptedError) at once when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const aborted = abortedPromise(signal);
  try {
    await pause(ms, aborted);
  } finally {
    aborted.dispose();
  }
}

/**
 * Pauses `ms` unless `signal` aborts first, and says which: for a loop that stops when asked
 * (the probe's pacing) rather than failing.
 */
export async function sleepUnlessAborted(
  ms: number,
  signal: AbortSignal,
): Promise<"elapsed" | "aborted"> {
  try {
    await sleep(ms, signal);
    return "elapsed";
  } catch (error) {
    if (signal.aborted) return "aborted";
    throw error;
  }
}

/**
 * `work`, unless `signal` aborts first: then `cancel` ends what `work` was doing (an SSH handshake
 * to a host that never answers: the socket is closed, nothing keeps the process alive) and the
 * abort reason (InterruptedError, exit 130) is thrown at once. For one operation that does not
 * listen to the signal itself; one listener, removed afterwards.
 */
export async function abortable<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  cancel: () => void,
): Promise<T> {
  const aborted = abortedPromise(signal);
  try {
    return await Promise.race([work, aborted.promise]);
  } catch (error) {
    if (signal?.aborted) cancel();
    throw error;
  } finally {
    aborted.dispose();
  }
}

/** A promise that rejects when the signal aborts, with its one listener removed by dispose(). */
function abortedPromise(signal: AbortSignal | undefined): {
  promise: Promise<never>;
  dispose(): void;
} {
  if (!signal) return { promise: new Promise<never>(() => undefined), dispose: () => undefined };
  let onAbort = () => undefined as void;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  // A rejection nobody awaits any more (the wait ended first) is not an unhandled one.
  promise.catch(() => undefined);
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/** The timer is cleared when the abort wins: nothing keeps the process alive after Ctrl-C. */
async function pause(ms: number, aborted: { promise: Promise<never> }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
      aborted.promise,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
