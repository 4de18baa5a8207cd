/**
 * cli/run.ts: a command that fails after Ctrl-C or SIGTERM (the failure the abort caused: a
 * request cut short, a revert that could not finish) exits 130 or 143, not 1. The command is a
 * stand-in for `status` that waits for the signal and then fails as told.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../../src/cli/run.js";
import { ExitCode, OperationError } from "../../../src/errors.js";

const command = vi.hoisted(() => ({
  /** What the command throws, once the signal came (or at once, with `waitForSignal` false). */
  failure: undefined as unknown,
  waitForSignal: true,
  started: () => undefined as void,
}));

vi.mock("../../../src/commands/status.js", () => ({
  status: async (ctx: { signal: AbortSignal }) => {
    command.started();
    if (command.waitForSignal)
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    throw command.failure;
  },
  formatStatus: () => "",
  statusFailure: () => undefined,
}));

afterEach(() => {
  command.waitForSignal = true;
});

/** Runs `status`, sends `signal` once the command runs (none: no signal); exit code and stderr. */
async function statusWith(
  failure: unknown,
  signal: NodeJS.Signals | undefined,
): Promise<{ exitCode: number; stderr: string }> {
  command.failure = failure;
  command.waitForSignal = signal !== undefined;
  const running = new Promise<void>((resolve) => (command.started = resolve));
  const err: string[] = [];
  const exit = runCli(["status"], {
    stdout: { write: () => true },
    stderr: { write: (s: string) => err.push(s) },
    stderrIsTTY: false,
    stdinIsTTY: false,
    exitNow: (code) => {
      throw new Error(`asked to exit at once with ${code}`);
    },
  });
  await running;
  if (signal) process.emit(signal);
  return { exitCode: await exit, stderr: err.join("") };
}

const revertFailed = () =>
  new OperationError(
    "the revert of elm-lang.org was cut short: job version 7 may still run",
    "run elm-infra status, then rollback elm-lang.org",
  );

describe("a command that fails after the signal exits with the signal's code", () => {
  it("Ctrl-C, then elm-infra's own failure: exit 130, its message and hint kept", async () => {
    const r = await statusWith(revertFailed(), "SIGINT");
    expect(r.exitCode).toBe(ExitCode.Interrupted);
    expect(r.stderr).toContain(
      "error: the revert of elm-lang.org was cut short: job version 7 may still run",
    );
    expect(r.stderr).toContain("hint: run elm-infra status, then rollback elm-lang.org");
  });

  it("SIGTERM, then elm-infra's own failure: exit 143", async () => {
    const r = await statusWith(revertFailed(), "SIGTERM");
    expect(r.exitCode).toBe(ExitCode.Terminated);
  });

  it("Ctrl-C, then a library's error (a socket cut): exit 130, said as the interruption, no 'internal error'", async () => {
    const r = await statusWith(new Error("socket hang up"), "SIGINT");
    expect(r.exitCode).toBe(ExitCode.Interrupted);
    expect(r.stderr).toMatch(/^error: interrupted$/m);
    expect(r.stderr).not.toContain("internal error");
  });

  it("without a signal the same failures keep their own exit codes", async () => {
    expect((await statusWith(revertFailed(), undefined)).exitCode).toBe(1);
    const bug = await statusWith(new Error("socket hang up"), undefined);
    expect(bug.exitCode).toBe(1);
    expect(bug.stderr).toContain("internal error (a bug in elm-infra): socket hang up");
  });
});
