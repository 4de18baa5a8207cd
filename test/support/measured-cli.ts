/**
 * The compiled CLI run as a user runs it, with what it cost measured for real: its wall time and
 * its peak resident memory (the child's own process.resourceUsage().maxRSS, written at exit by a
 * preloaded module), so a bound on either is a bound on the real process.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { cliPath } from "../harness/cli.js";

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
  const dir = mkdtempSync(join(tmpdir(), "elm-infra-rss-"));
  try {
    const reporter = join(dir, "report-rss.cjs");
    const report = join(dir, "max-rss");
    writeFileSync(
      reporter,
      `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(report)}, String(process.resourceUsage().maxRSS)));\n`,
    );
    const started = Date.now();
    const res = await execa(
      "node",
      [
        "--require",
        reporter,
        cliPath,
        ...args,
        "--config",
        options.config,
        "--target",
        options.target,
        ...(options.json === false ? [] : ["--json"]),
      ],
      {
        reject: false,
        timeout: 120_000,
        stdin: "ignore",
        env: { CI: "true", ...options.env },
        stripFinalNewline: false,
      },
    );
    const ms = Date.now() - started;
    const events = res.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return {
      exitCode: res.exitCode ?? -1,
      stdout: res.stdout,
      stderr: res.stderr,
      events,
      ms,
      maxRssMb: Number(readFileSync(report, "utf8")) / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
