#!/usr/bin/env node
import { CommanderError } from "commander";
import type { GlobalOptions } from "../tasks/context.js";
import {
  abortReason,
  ElmInfraError,
  ExitCode,
  InterruptedError,
  TerminatedError,
  UsageError,
} from "../errors.js";
import { chooseMode, Output } from "../output/output.js";
import { redact } from "../output/redact.js";
import { buildProgram, type Action } from "./program.js";

/** The only place that prints final errors and sets the exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.Success;
  let output = new Output(
    chooseMode({
      json: argv.includes("--json"),
      isTTY: process.stderr.isTTY,
      ci: !!process.env.CI,
    }),
  );

  const run = async (name: string, options: GlobalOptions, action: Action): Promise<void> => {
    output = new Output(
      chooseMode({ json: options.json, isTTY: process.stderr.isTTY, ci: !!process.env.CI }),
      options.verbose,
    );
    const abort = new AbortController();
    let signals = 0;
    // Ctrl-C and SIGTERM stop the work the same way: the commands clean up (fail the deployment,
    // revert, release the lock), then exit 130 or 143. A second signal does not wait.
    const stopOn = (reason: () => InterruptedError) => () => {
      signals += 1;
      const error = reason();
      if (signals > 1) process.exit(error.exitCode);
      output.warn(
        `${error.message}: stopping and cleaning up (press Ctrl-C again to quit at once)`,
      );
      abort.abort(error);
    };
    const onSigint = stopOn(() => new InterruptedError());
    const onSigterm = stopOn(() => new TerminatedError());
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
    try {
      // loaded with the first command that runs: --help and usage errors never read a config
      const { createContext } = await import("../tasks/context.js");
      const ctx = createContext(
        options,
        output,
        abort.signal,
        !!process.stdin.isTTY && !options.json,
      );
      const result = await action(ctx);
      // A command that finished anyway after Ctrl-C or SIGTERM still exits 130 or 143.
      if (abort.signal.aborted) throw abortReason(abort.signal);
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
    writeOut: (s) => process.stdout.write(s),
    writeErr: (s) => (json ? undefined : process.stderr.write(redact(s))),
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
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    exitCode = reportError(error, output);
  }
  return exitCode;
}

function reportError(error: unknown, output: Output): number {
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
  const exitCode = known?.exitCode ?? ExitCode.OperationFailed;
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
    process.stderr.write("(run with --help for usage)\n");
  return exitCode;
}

// docker-modem parses its ssh:// engine address with the deprecated url.parse(), and Node's
// DEP0170 warning would land in every `image --host` run's output. The CLI shows none.
process.noDeprecation = true;

// A reader that stops early (`elm-infra --help | head`) is not an error of ours: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${redact(String(error))}\n`);
    process.exitCode = ExitCode.OperationFailed;
  },
);
