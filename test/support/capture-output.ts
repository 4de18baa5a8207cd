import { Output, type OutputMode } from "../../src/output/output.js";

/** An Output whose stdout and stderr are kept as lines a test can read. */
export function captureOutput(mode: OutputMode, verbose = false) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output = new Output(
    mode,
    verbose,
    { write: (s: string) => stdout.push(s) },
    { write: (s: string) => stderr.push(s) },
  );
  const lines = (chunks: string[]) =>
    chunks
      .join("")
      .split("\n")
      .filter((l) => l !== "");
  return { output, stdout: () => lines(stdout), stderr: () => lines(stderr) };
}
