import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stalledMessage, unlessStalled, type WhenIdle } from "../../../src/cli/stall.js";
import { cliPath as cli, ensureBuilt } from "../../harness/cli.js";
import { repo } from "../../support/cli.js";

/** A WhenIdle the test fires by hand; says how many listeners are still attached. */
function idleByHand() {
  const listeners = new Set<() => void>();
  const whenIdle: WhenIdle = (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };
  return { whenIdle, listeners, fire: () => [...listeners].forEach((l) => l()) };
}

describe("unlessStalled", () => {
  it("gives the work's value, and stops listening afterwards", async () => {
    const idle = idleByHand();
    await expect(unlessStalled(Promise.resolve(7), idle.whenIdle)).resolves.toBe(7);
    expect(idle.listeners.size).toBe(0);
  });

  it("gives the work's own failure, and stops listening afterwards", async () => {
    const idle = idleByHand();
    await expect(
      unlessStalled(Promise.reject(new Error("its own")), idle.whenIdle),
    ).rejects.toThrow("its own");
    expect(idle.listeners.size).toBe(0);
  });

  it("fails with the stall when the loop empties before the work settles", async () => {
    const idle = idleByHand();
    const waiting = unlessStalled(new Promise(() => undefined), idle.whenIdle);
    idle.fire();
    await expect(waiting).rejects.toThrow(stalledMessage);
    expect(idle.listeners.size).toBe(0);
  });
});

describe("the CLI whose command awaits what nothing settles", () => {
  let work: string;
  beforeAll(async () => {
    await ensureBuilt();
    work = await mkdtemp(join(tmpdir(), "elm-infra-stall-"));
    await copyFile(join(repo, "cluster.yaml"), join(work, "cluster.yaml"));
  }, 180_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  // Without the guard, Node exits 0 when its event loop empties: a command that never finished
  // looked like one that succeeded (`reboot --all` once did so, mid-reboot, with no result).
  /** The built CLI, its opening of cluster.yaml a promise nothing settles. */
  const stalledStatus = (flags: string[]) =>
    execa(
      "node",
      ["--import", join(repo, "test/support/stall/never-opens.mjs"), cli, "status", ...flags],
      {
        cwd: work,
        reject: false,
        stdin: "ignore",
        timeout: 30_000,
      },
    );

  it("status exits 1 saying it stopped waiting, not 0", async () => {
    const r = await stalledStatus([]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error: internal error (a bug in elm-infra): ${stalledMessage}`);
  });

  it("status --json exits 1 with an error event saying it stopped waiting", async () => {
    const r = await stalledStatus(["--json"]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).toMatchObject({
      type: "error",
      exitCode: 1,
      error: "InternalError",
      message: `internal error (a bug in elm-infra): ${stalledMessage}`,
    });
  });
});
