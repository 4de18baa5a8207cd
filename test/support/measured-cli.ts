/**
 * The compiled CLI run as a user runs it against a target of a test's cluster.yaml, with what it
 * cost measured for real (spawnCli: its wall time and the child's own peak resident memory), so a
 * bound on either is a bound on the real process.
 */
import { cliPath } from "../harness/cli.js";
import { spawnCli } from "./cli.js";

export { cliPath };

export interface MeasuredRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** JSON-lines events on stdout (with --json). */
  events: Array<Record<string, unknown>>;
  ms: number;
  /** Peak resident memory of the CLI process, in MB. */
  maxRssMb: number;
}

export async function runCliMeasured(
  args: string[],
  options: { config: string; target: string; json?: boolean; env?: Record<string, string> },
): Promise<MeasuredRun> {
  const run = await spawnCli(
    [
      ...args,
      "--config",
      options.config,
      "--target",
      options.target,
      ...(options.json === false ? [] : ["--json"]),
    ],
    { env: { CI: "true", ...options.env }, timeoutMs: 120_000 },
  );
  const events = run.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ...run, events, maxRssMb: run.maxRss / 1024 / 1024 };
}
