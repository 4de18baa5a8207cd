#!/usr/bin/env node
import { ExitCode } from "../errors.js";
import { lastResortLine, runCli } from "./run.js";

// The process entry: runCli does the work and returns the exit code; only this file exits.

// docker-modem parses its ssh:// engine address with the deprecated url.parse(), and Node's
// DEP0170 warning would land in every `image --host` run's output. The CLI shows none.
process.noDeprecation = true;

// A reader that stops early (`elm-infra --help | head`) is not an error of ours: stop quietly.
// A stdout that cannot be written (a full disk, `> /dev/full`) is: one line, exit 1.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  const why = error.code === "ENOSPC" ? "no space left on the device (ENOSPC)" : error.message;
  process.stderr.write(`error: cannot write to standard output: ${why}\n`);
  process.exit(ExitCode.OperationFailed);
});
process.stderr.on("error", (error: NodeJS.ErrnoException) => {
  process.exit(error.code === "EPIPE" ? (process.exitCode ?? 0) : ExitCode.OperationFailed);
});

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(lastResortLine(error));
    process.exitCode = ExitCode.OperationFailed;
  },
);
