import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { InterruptedError } from "../../src/errors.js";
import { abortable, done, notYet, sleep, waitFor, WaitTimeoutError } from "../../src/wait.js";

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, "abort").length;

describe("waitFor: bounded, abortable, its failure impossible to ignore", () => {
  it("returns the check's value once it is done", async () => {
    let n = 0;
    const value = await waitFor(
      { what: "three looks", timeoutMs: 5_000, intervalMs: 1 },
      async () => (++n === 3 ? done("ready") : notYet(`look ${n}`)),
    );
    expect(value).toBe("ready");
    expect(n).toBe(3);
  });

  it("throws a WaitTimeoutError with the last reason at the deadline", async () => {
    const error = await waitFor(
      { what: "Traefik on w1 to answer", timeoutMs: 50, intervalMs: 10, hint: "look at w1" },
      async (attempt) => notYet(`refused (${attempt})`),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    const e = error as WaitTimeoutError;
    expect(e.message).toMatch(
      /^timed out after 0s waiting for Traefik on w1 to answer \(last: refused \(\d+\)\)$/,
    );
    expect(e.hint).toBe("look at w1");
    expect(e.last).toBe(`refused (${e.attempts})`);
    expect(e.exitCode).toBe(1);
  });

  it("stops after maxAttempts looks even before the deadline", async () => {
    let n = 0;
    const error = await waitFor(
      {
        what: "x",
        timeoutMs: 60_000,
        intervalMs: 0,
        maxAttempts: 4,
        message: (t) => `gave up after ${t.attempts}: ${t.last}`,
      },
      async () => notYet(`n=${++n}`),
    ).catch((e: unknown) => e);
    expect(n).toBe(4);
    expect((error as Error).message).toBe("gave up after 4: n=4");
  });

  it("ends with the abort reason at once, even while a check that ignores the signal runs", async () => {
    const controller = new AbortController();
    const began = Date.now();
    setTimeout(() => controller.abort(new InterruptedError()), 50);
    const error = await waitFor(
      { what: "forever", timeoutMs: 600_000, intervalMs: 0, signal: controller.signal },
      () => new Promise(() => undefined),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it("ends with the abort reason during the pause between looks", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const began = Date.now();
    const error = await waitFor(
      { what: "slow", timeoutMs: 600_000, intervalMs: 60_000, signal: controller.signal },
      async () => notYet("no"),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(Date.now() - began).toBeLessThan(1_000);
  });

  it("holds one abort listener at most, however many rounds, and none afterwards", async () => {
    const controller = new AbortController();
    let most = 0;
    await waitFor(
      { what: "many rounds", timeoutMs: 10_000, intervalMs: 1, signal: controller.signal },
      async (attempt) => {
        most = Math.max(most, abortListeners(controller.signal));
        return attempt === 30 ? done(undefined) : notYet("not yet");
      },
    );
    expect(most).toBe(1);
    expect(abortListeners(controller.signal)).toBe(0);
    for (let i = 0; i < 20; i++) await sleep(1, controller.signal);
    expect(abortListeners(controller.signal)).toBe(0);
  });
});

describe("sleep", () => {
  it("rejects with the abort reason when aborted, already or during the pause", async () => {
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(InterruptedError);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await expect(sleep(60_000, controller.signal)).rejects.toBeInstanceOf(InterruptedError);
  });
});

describe("abortable: one operation that does not listen to the signal", () => {
  it("throws the abort reason at once and cancels the operation, its listener removed", async () => {
    const controller = new AbortController();
    const cancelled: string[] = [];
    setTimeout(() => controller.abort(new InterruptedError()), 50);
    const began = Date.now();
    const error = await abortable(new Promise(() => undefined), controller.signal, () =>
      cancelled.push("socket closed"),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(cancelled).toEqual(["socket closed"]);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it("returns the operation's value or error, cancelling nothing, when no abort comes", async () => {
    const controller = new AbortController();
    const cancel = () => expect.unreachable("cancelled without an abort");
    expect(await abortable(Promise.resolve("ready"), controller.signal, cancel)).toBe("ready");
    const refused = new Error("connection refused");
    await expect(abortable(Promise.reject(refused), controller.signal, cancel)).rejects.toBe(
      refused,
    );
    expect(await abortable(Promise.resolve(1), undefined, cancel)).toBe(1);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it("an already aborted signal cancels at once", async () => {
    const cancelled: number[] = [];
    await expect(
      abortable(new Promise(() => undefined), AbortSignal.abort(), () => cancelled.push(1)),
    ).rejects.toBeInstanceOf(InterruptedError);
    expect(cancelled).toEqual([1]);
  });
});
