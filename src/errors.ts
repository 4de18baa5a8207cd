import { stripControls } from "./output/controls.js";

/**
 * Typed errors. Each carries the exit code the CLI uses and, where there is one, what the user can
 * do next. Only the CLI entry prints them and exits.
 */
export const ExitCode = {
  Success: 0,
  OperationFailed: 1,
  Usage: 2,
  Refused: 3,
  NotImplemented: 4,
  Interrupted: 130,
  Terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The root of elm-infra's errors. Message and hint may quote what a server said, and listr2 shows
 * a failed task's message on a terminal before the output layer sees it: both are stripped of
 * terminal control sequences here.
 */
export class ElmInfraError extends Error {
  readonly exitCode: ExitCode = ExitCode.OperationFailed;
  readonly hint?: string;
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(stripControls(message), options);
    this.name = new.target.name;
    if (hint !== undefined) this.hint = stripControls(hint);
  }
}

/** The command line was wrong: a bad argument, an unknown option, a missing --yes. */
export class UsageError extends ElmInfraError {
  override readonly exitCode = ExitCode.Usage;
}

/** One problem in a configuration file, with where it is. */
export interface ConfigProblem {
  file: string;
  /** Dotted path of the field, e.g. `targets.local.workers`; empty for syntax errors. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** The configuration (cluster.yaml, secrets) is invalid; lists every problem at once. */
export class ConfigError extends ElmInfraError {
  override readonly exitCode = ExitCode.Usage;
  constructor(
    readonly problems: ConfigProblem[],
    hint = "fix the fields above and run again",
  ) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`,
      hint,
    );
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** Refused because of a conflict: a lock held by someone else, a job changed since the plan. */
export class ConflictError extends ElmInfraError {
  override readonly exitCode = ExitCode.Refused;
}

/** The operation ran and failed (a deployment reverted, a host unreachable, a build failed). */
export class OperationError extends ElmInfraError {}

/**
 * A server answered 200 with something that is not the endpoint's answer: another service at the
 * address, an empty object, bad JSON, HTML, more than elm-infra reads. `problem` says what was
 * wrong (the first schema issues with their paths).
 */
export class UnexpectedAnswerError extends OperationError {
  constructor(
    readonly address: string,
    readonly service: string,
    readonly endpoint: string,
    readonly problem: string,
  ) {
    super(
      `${address} answered something that is not ${service}'s ${endpoint}: ${problem}`,
      `check that ${address} is ${service} (the target's endpoints, or its hosts' ports) and a version elm-infra supports (src/tools/versions.json)`,
    );
  }
}

/** A capability that is not built yet says so instead of pretending to succeed. */
export class NotImplementedError extends ElmInfraError {
  override readonly exitCode = ExitCode.NotImplemented;
  constructor(what: string) {
    super(`${what} is not implemented yet`, "the README's Commands table says what works today");
  }
}

/** The user pressed Ctrl-C; cleanup has run. */
export class InterruptedError extends ElmInfraError {
  override readonly exitCode: ExitCode = ExitCode.Interrupted;
  constructor() {
    super("interrupted", "locks were released; run the command again to continue");
  }
}

/** The process was asked to stop (SIGTERM); cleanup has run as for Ctrl-C. */
export class TerminatedError extends InterruptedError {
  override readonly exitCode: ExitCode = ExitCode.Terminated;
  constructor() {
    super();
    this.message = "terminated (SIGTERM)";
  }
}

/** Why an aborted signal stopped the work: Ctrl-C or SIGTERM as main.ts said, else Ctrl-C. */
export function abortReason(signal: AbortSignal): InterruptedError {
  return signal.reason instanceof InterruptedError ? signal.reason : new InterruptedError();
}

/** A file the user named that elm-infra will not read: not a regular file, too large, outside. */
export class FileRefusedError extends UsageError {
  constructor(
    readonly file: string,
    readonly reason: string,
    hint?: string,
  ) {
    super(`${file}: ${reason}`, hint);
  }
}

/** A wait (src/wait.ts) ran out of time or rounds; the last reason seen is in its message. */
export class WaitTimeoutError extends OperationError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly what: string,
    readonly last: string,
    readonly attempts: number,
  ) {
    super(message, hint);
  }
}

/** A lock (src/lock.ts) is held by someone else: refused (exit 3), naming the holder. */
export class LockHeldError extends ConflictError {
  constructor(
    message: string,
    hint: string,
    /** Who holds it, as the refusal says; undefined when the holder left no name. */
    readonly holder: string | undefined,
  ) {
    super(message, hint);
  }
}

/**
 * `reboot --upgrade-packages`: the security upgrades failed on a host, which was not rebooted.
 * Carries the stage that failed and apt's last lines; `inRollout` adds which hosts were done.
 */
export class PackageUpgradeError extends OperationError {
  constructor(
    readonly host: string,
    readonly stage: string | null,
    readonly status: number | null,
    readonly lastLines: readonly string[],
    readonly fix: string,
    readonly rollout?: { rebooted: readonly string[]; notRebooted: readonly string[] },
  ) {
    super(
      `the security upgrades failed on ${host}${stage ? ` at ${stage}` : ""} (exit ${status ?? "none"}); it was not rebooted. apt's last lines:\n${lastLines.map((l) => `  ${l}`).join("\n")}`,
      [
        fix,
        rollout
          ? `the rollout stopped there: ${rollout.rebooted.length > 0 ? `${rollout.rebooted.join(", ")} rebooted before it; ` : ""}not rebooted: ${rollout.notRebooted.join(", ")} (run the reboot again for them)`
          : undefined,
      ]
        .filter((s) => s !== undefined)
        .join("; "),
    );
  }

  inRollout(rebooted: readonly string[], notRebooted: readonly string[]): PackageUpgradeError {
    return new PackageUpgradeError(this.host, this.stage, this.status, this.lastLines, this.fix, {
      rebooted,
      notRebooted,
    });
  }
}
