import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { operationsLock } from "../../src/cluster/operations-lock.js";
import { LockHeldError, OperationError } from "../../src/errors.js";
import { waitingLock, withLock, type HeldLock, type Lock } from "../../src/lock.js";

/** A lock in memory that records what happened to it; its release may fail. */
function memoryLock(releaseFails = false) {
  const events: string[] = [];
  let held = false;
  const lock: Lock = {
    name: "the memory lock",
    acquire: async (): Promise<HeldLock> => {
      if (held) throw new LockHeldError("the memory lock is held by me", "wait", "me");
      held = true;
      events.push("acquired");
      return {
        name: "the memory lock",
        release: async () => {
          events.push("released");
          held = false;
          if (releaseFails) throw new OperationError("the store is gone");
        },
      };
    },
  };
  return { lock, events };
}

describe("withLock: acquire, work, release whatever happened", () => {
  it("releases after the work, and after a failed work (its error kept)", async () => {
    const { lock, events } = memoryLock();
    expect(await withLock(lock, async () => "done")).toBe("done");
    const failed = await withLock(lock, async () => {
      throw new OperationError("the work broke");
    }).catch((e: unknown) => e);
    expect((failed as Error).message).toBe("the work broke");
    expect(events).toEqual(["acquired", "released", "acquired", "released"]);
  });

  it("a held lock refuses (exit 3) naming the holder, and the work does not run", async () => {
    const { lock } = memoryLock();
    const ran: string[] = [];
    await withLock(lock, async () => {
      const refused = await withLock(lock, async () => void ran.push("inner")).catch(
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(LockHeldError);
      expect((refused as LockHeldError).exitCode).toBe(3);
      expect((refused as LockHeldError).holder).toBe("me");
    });
    expect(ran).toEqual([]);
  });

  it("a failed release is thrown, said to onReleaseFailed, or added to the work's error", async () => {
    const { lock } = memoryLock(true);
    await expect(withLock(lock, async () => 1)).rejects.toThrow("the store is gone");
    const said: string[] = [];
    expect(
      await withLock(lock, async () => 2, { onReleaseFailed: (e) => said.push(e.message) }),
    ).toBe(2);
    expect(said).toEqual(["the store is gone"]);
    const both = await withLock(lock, async () => {
      throw new OperationError("the work broke");
    }).catch((e: unknown) => e);
    expect((both as Error).message).toBe(
      "the work broke\nreleasing the memory lock failed too: the store is gone",
    );
  });

  it("the operations lock behind the interface: the second taker refused with the holder named", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-lock-"));
    try {
      await withLock(operationsLock(dir, "t", "bring-up"), async () => {
        const refused = await withLock(operationsLock(dir, "t", "scale"), async () => 0).catch(
          (e: unknown) => e,
        );
        expect(refused).toBeInstanceOf(LockHeldError);
        expect((refused as LockHeldError).holder).toMatch(/^bring-up by .+ \(pid \d+, since .+\)$/);
      });
      expect(await withLock(operationsLock(dir, "t", "scale"), async () => "free again")).toBe(
        "free again",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("waitingLock (--lock-wait): waits for the holder instead of refusing at once", () => {
  it("takes the lock once its holder lets go", async () => {
    const { lock, events } = memoryLock();
    const first = await lock.acquire();
    setTimeout(() => void first.release(), 300).unref();
    const began = Date.now();
    const held = await waitingLock(lock, 10_000).acquire();
    expect(Date.now() - began).toBeGreaterThanOrEqual(250);
    await held.release();
    expect(events).toEqual(["acquired", "released", "acquired", "released"]);
  });

  it("still held at the end of the wait, refuses (exit 3) naming the holder and the wait", async () => {
    const { lock } = memoryLock();
    await lock.acquire();
    const refused = await waitingLock(lock, 1_500)
      .acquire()
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockHeldError);
    expect((refused as LockHeldError).exitCode).toBe(3);
    expect((refused as LockHeldError).holder).toBe("me");
    expect((refused as LockHeldError).message).toMatch(/held by me \(waited 2s\)$/);
  });

  it("Ctrl-C ends the wait at once", async () => {
    const { lock } = memoryLock();
    await lock.acquire();
    const ctrlC = new AbortController();
    setTimeout(() => ctrlC.abort(), 200).unref();
    const began = Date.now();
    const stopped = await waitingLock(lock, 60_000, ctrlC.signal)
      .acquire()
      .catch((e: unknown) => e);
    expect((stopped as Error).name).toBe("InterruptedError");
    expect(Date.now() - began).toBeLessThan(2_000);
  });
});
