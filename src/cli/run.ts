import { CommanderError, type Command } from "commander";
import type { GlobalOptions } from "../tasks/context.js";
import {
  abortReason,
  ElmInfraError,
  ExitCode,
  InterruptedError,
  TerminatedError,
  UsageError,
} from "../errors.js";
import { stripControls } from "../output/controls.js";
import { chooseMode, Output, type Writable } from "../output/output.js";
import { redact } from "../output/redact.js";
import { buildProgram, type Action } from "./program.js";
import { processIdle, unlessStalled, type WhenIdle } from "./stall.js";

/** Where a CLI run reads and writes: the process's own streams, or a test's. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  /** A person is at the terminal: progress is drawn, questions may be asked. */
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  /** Ends the process at once (a second Ctrl-C); main.ts passes process.exit. */
  exitNow(code: number): void;
  /**
   * Says when the event loop has emptied while a command still waits (cli/stall.ts): the command
   * then fails as an internal error instead of the process exiting 0. The process's own io has it.
   */
  whenIdle?: WhenIdle;
}

/** The process's own streams: what `elm-infra` on a command line uses. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: !!process.stderr.isTTY,
    stdinIsTTY: !!process.stdin.isTTY,
    exitNow: (code) => process.exit(code),
    whenIdle: processIdle,
  };
}

/**
 * Runs one command line and returns its exit code; prints final errors. It never exits the
 * process itself (but for a second Ctrl-C, through io.exitNow): main.ts does, and tests call this
 * in process with their own streams.
 */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: number = ExitCode.Success;
  let output = new Output(
    chooseMode({
      json: argv.includes("--json"),
      isTTY: io.stderrIsTTY,
      ci: !!process.env.CI,
    }),
    false,
    io.stdout,
    io.stderr,
  );

  const run = async (name: string, options: GlobalOptions, action: Action): Promise<void> => {
    output = new Output(
      chooseMode({ json: options.json, isTTY: io.stderrIsTTY, ci: !!process.env.CI }),
      options.verbose,
      io.stdout,
      io.stderr,
    );
    const abort = new AbortController();
    let signals = 0;
    // Ctrl-C and SIGTERM stop the work the same way: the commands clean up (fail the deployment,
    // revert, release the lock), then exit 130 or 143. A second signal does not wait.
    const stopOn = (reason: () => InterruptedError) => () => {
      signals += 1;
      const error = reason();
      if (signals > 1) return io.exitNow(error.exitCode);
      output.warn(
        `${error.message}: stopping and cleaning up (press Ctrl-C again to quit at once)`,
      );
      abort.abort(error);
    };
    const onSigint = stopOn(() => new InterruptedError());
    const onSigterm = stopOn(() => new TerminatedError());
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
    const startedAt = new Date();
    // loaded with the first command that runs: --help and usage errors never read a config
    const { createContext } = await import("../tasks/context.js");
    const ctx = createContext(options, output, abort.signal, io.stdinIsTTY && !options.json);
    // The release ledger: written here, once, however the command ended (recordOperation).
    const record = async (ended: { exitCode: number; data?: unknown; error?: unknown }) => {
      const { isRecorded } = await import("../plan/ledger.js");
      if (!isRecorded({ command: name, dryRun: options.dryRun, ...ended })) return;
      const { recordOperation } = await import("../tasks/ledger.js");
      await recordOperation(ctx, {
        command: name,
        argv: argv.map(redact),
        operands: options.operands ?? [],
        startedAt,
        ...ended,
      });
    };
    try {
      let result: Awaited<ReturnType<Action>>;
      try {
        result = io.whenIdle ? await unlessStalled(action(ctx), io.whenIdle) : await action(ctx);
        // A command that finished anyway after Ctrl-C or SIGTERM still exits 130 or 143.
        if (abort.signal.aborted) throw abortReason(abort.signal);
      } catch (error) {
        const failure = abort.signal.aborted
          ? afterTheSignal(error, abortReason(abort.signal))
          : error;
        await record({ exitCode: exitCodeOf(failure), error: failure });
        throw failure;
      }
      await record({
        exitCode: result?.failure ? result.failure.exitCode : ExitCode.Success,
        data: result?.data,
        ...(result?.failure ? { error: result.failure } : {}),
      });
      if (result !== undefined)
        output.emit({ type: "result", command: name, data: result.data, text: result.text });
      // A result that is also a failure (a probe with failed requests, a degraded cluster):
      // shown first, then the error and its exit code.
      if (result?.failure) throw result.failure;
    } finally {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigterm);
    }
  };

  const program = buildProgram(run);
  program.exitOverride();
  // In JSON mode commander's own messages (unknown option, missing argument) become an error
  // event like every other error, so a script reading stdout always gets one.
  const json = argv.includes("--json");
  program.configureOutput({
    writeOut: (s) => io.stdout.write(s),
    writeErr: (s) => (json ? undefined : io.stderr.write(redact(s))),
  });
  for (const sub of program.commands) {
    sub.exitOverride();
    sub.configureOutput(program.configureOutput());
  }

  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return ExitCode.Usage;
    }
    // `elm-infra bogus --help` names the unknown command (exit 2) instead of the general help
    const args = asksHelpOfAnUnknownCommand(argv, program)
      ? argv.filter((a) => a !== "--help" && a !== "-h")
      : argv;
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    exitCode = reportError(error, output, io.stderr);
  }
  return exitCode;
}

/** The global options that take a value: what follows them is not the command's name. */
const valueOptions = new Set(["-t", "--target", "-c", "--config"]);

function asksHelpOfAnUnknownCommand(argv: readonly string[], program: Command): boolean {
  if (!argv.some((a) => a === "--help" || a === "-h")) return false;
  const names = new Set(["help", ...program.commands.flatMap((c) => [c.name(), ...c.aliases()])]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return false;
    if (valueOptions.has(arg)) i++;
    else if (!arg.startsWith("-")) return !names.has(arg);
  }
  return false;
}

/**
 * What a command that failed after Ctrl-C or SIGTERM ends with: the signal's exit code (130 or
 * 143), since the failure is the interruption's doing (a request cut short, a step that gave up,
 * a revert that could not finish). elm-infra's own error keeps its message and hint, which may
 * say more than "interrupted" (what was left undone); anything else is said as the interruption.
 */
function afterTheSignal(error: unknown, reason: InterruptedError): ElmInfraError {
  if (error instanceof InterruptedError) return error;
  if (error instanceof ElmInfraError) return new InterruptedFailure(error, reason);
  return reason;
}

/** An error of elm-infra's, said as it was, with the exit code of the signal that caused it. */
class InterruptedFailure extends ElmInfraError {
  override readonly exitCode: ExitCode;
  constructor(failure: ElmInfraError, reason: InterruptedError) {
    super(failure.message, failure.hint, { cause: failure });
    this.name = failure.name;
    this.exitCode = reason.exitCode;
  }
}

/** The exit code an error of a command's ends the run with (reportError's). */
const exitCodeOf = (error: unknown): number =>
  error instanceof ElmInfraError ? error.exitCode : ExitCode.OperationFailed;

function reportError(error: unknown, output: Output, stderr: Writable): number {
  if (error instanceof CommanderError) {
    // --help and --version are not errors; help shown because no command was given is
    if (
      error.exitCode === 0 ||
      error.code === "commander.helpDisplayed" ||
      error.code === "commander.version"
    )
      return ExitCode.Success;
    if (output.mode === "json") {
      const message =
        error.code === "commander.help"
          ? "no command given"
          : error.message.replace(/^error: /, "");
      output.emit({
        type: "error",
        exitCode: ExitCode.Usage,
        error: "UsageError",
        message,
        hint: "run elm-infra --help for the commands and their options",
      });
    }
    return ExitCode.Usage;
  }
  const known = error instanceof ElmInfraError ? error : undefined;
  const exitCode = exitCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  output.emit({
    type: "error",
    exitCode,
    error: known ? known.name : "InternalError",
    message: known ? message : `internal error (a bug in elm-infra): ${message}`,
    ...(known?.hint
      ? { hint: known.hint }
      : known
        ? {}
        : { hint: "run again with --verbose for the stack trace, and report it" }),
  });
  if (!known && output.verbose && error instanceof Error && error.stack) output.debug(error.stack);
  if (error instanceof UsageError && output.mode !== "json")
    stderr.write("(run with --help for usage)\n");
  return exitCode;
}

/**
 * What main.ts prints for an error that escaped runCli itself (a bug before any output exists):
 * like every other line, without secrets and without terminal control sequences.
 */
export function lastResortLine(error: unknown): string {
  return `error: ${redact(stripControls(String(error)))}\n`;
}
