/** Runs `ansible` / `ansible-playbook` with execa, streaming lines and parsed events. */
import { execa } from "execa";
import { OperationError } from "../errors.js";
import type { AnsibleCommand } from "./argv.js";
import type { AnsibleEvent, RecapCounts } from "./events.js";
import { AnsibleOutputParser, type TaskFailure } from "./output.js";

export interface RunAnsibleOptions {
  /** Every output line (stdout and stderr interleaved), as it comes. */
  onLine?: (line: string) => void;
  /** Each play, task, host result, failure and recap line, parsed. */
  onEvent?: (event: AnsibleEvent) => void;
  cwd?: string;
  /** Default 30 minutes. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface AnsibleRunResult {
  exitCode: number;
  recap: Record<string, RecapCounts>;
  /** Failures the playbook chose to ignore (`ignore_errors`), which did not fail the run. */
  ignoredFailures: TaskFailure[];
}

/** Ansible ran and reported failed or unreachable hosts, or could not run the playbook at all. */
export class AnsibleRunError extends OperationError {
  constructor(
    readonly command: string,
    readonly processExitCode: number | undefined,
    readonly failures: TaskFailure[],
    readonly recap: Record<string, RecapCounts>,
    readonly errors: string[],
    readonly outputTail: string[],
    reason?: string,
  ) {
    super(
      describeFailure(command, processExitCode, failures, errors, outputTail, reason),
      hintFor(failures),
    );
  }
}

export async function runAnsible(
  command: AnsibleCommand,
  options: RunAnsibleOptions = {},
): Promise<AnsibleRunResult> {
  const parser = new AnsibleOutputParser();
  const tail: string[] = [];
  const subprocess = execa(command.file, command.args, {
    env: command.env,
    extendEnv: true,
    all: true,
    reject: false,
    stdin: "ignore",
    timeout: options.timeoutMs ?? 30 * 60_000,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  for await (const line of subprocess.iterable({ from: "all" })) {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    options.onLine?.(line);
    const event = parser.feed(line);
    if (event) options.onEvent?.(event);
  }
  const result = await subprocess;
  const summary = parser.result();
  const failures = summary.failures.filter((f) => !f.ignored);
  const name = command.file;
  if (result.exitCode === 0 && failures.length === 0 && !result.failed) {
    return {
      exitCode: 0,
      recap: summary.recap,
      ignoredFailures: summary.failures.filter((f) => f.ignored),
    };
  }
  let reason: string | undefined;
  if (result.timedOut) reason = `timed out after ${options.timeoutMs ?? 30 * 60_000} ms`;
  else if (result.isCanceled) reason = "was cancelled";
  else if (result.exitCode === undefined) reason = `could not run: ${result.shortMessage}`;
  throw new AnsibleRunError(
    name,
    result.exitCode,
    failures,
    summary.recap,
    summary.errors,
    tail,
    reason,
  );
}

function describeFailure(
  command: string,
  exitCode: number | undefined,
  failures: TaskFailure[],
  errors: string[],
  tail: string[],
  reason: string | undefined,
): string {
  if (reason) return `${command} ${reason}`;
  if (failures.length > 0) {
    const lines = failures.map((f) => {
      const where = f.task ? `task "${f.task}" on ${f.host}` : f.host;
      return `  ${where}${f.unreachable ? " (unreachable)" : ""}: ${f.message || "failed"}`;
    });
    return `${command} failed (exit ${exitCode}):\n${lines.join("\n")}`;
  }
  const detail = errors.length > 0 ? errors.join("\n") : tail.slice(-10).join("\n");
  return `${command} failed (exit ${exitCode}):\n${detail}`;
}

function hintFor(failures: TaskFailure[]): string | undefined {
  if (failures.some((f) => f.unreachable)) {
    return "check that the hosts are up, that sshd answers, and that their host keys match the pinned ones";
  }
  return undefined;
}
