import { withCluster } from "../cluster/connect.js";
import { ElmInfraError, UsageError, type ExitCode } from "../errors.js";
import { exitCodeOf, type ExecStream } from "../nomad/exec.js";
import { quote } from "../output/quote.js";
import { LineSplitter } from "../plan/logs.js";
import { requireService, runningTaskOf } from "../tasks/allocations.js";
import type { CommandContext } from "../tasks/context.js";

export interface ExecOptions {
  /** An allocation ID or its prefix; default: the oldest running allocation. */
  alloc?: string;
}

export interface ExecResult {
  service: string;
  task: string;
  alloc: string;
  node: string;
  command: string[];
  tty: boolean;
  exitCode: number;
}

/** The command ran and ended with a non-zero code: elm-infra ends with the same code. */
export class RemoteCommandFailedError extends ElmInfraError {
  override readonly exitCode: ExitCode;
  constructor(
    readonly result: ExecResult,
    message: string,
  ) {
    super(message);
    // Not one of elm-infra's own codes: the command's, passed on as `nomad alloc exec` does.
    this.exitCode = exitCodeOf(result.exitCode) as ExitCode;
  }
}

/** Where the command's bytes come from and go: this process's terminal or pipes. */
export interface ExecTerminal {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const processTerminal = (): ExecTerminal => ({
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});

/**
 * `exec <service> -- <command...>`: runs the command in the service's main task, in its oldest
 * running allocation (or the one `--alloc` names), with a TTY when this process's stdin and
 * stdout are terminals. Its output passes through as bytes (with `--json`, as line events); the
 * result is its exit code, which a non-zero one makes elm-infra's own.
 */
export async function exec(
  ctx: CommandContext,
  service: string,
  command: string[],
  options: ExecOptions = {},
  terminal: ExecTerminal = processTerminal(),
): Promise<ExecResult> {
  if (command.length === 0)
    throw new UsageError(
      "missing the command to run",
      `put it after --, for example: elm-infra exec ${service || "elm-lang.org"} -- sh`,
    );
  const config = await ctx.loadConfig();
  requireService(config, service);
  const json = ctx.options.json;
  const tty = !json && !!terminal.stdin.isTTY && !!terminal.stdout.isTTY;
  return withCluster(config, { signal: ctx.signal }, async ({ nomad }) => {
    const { task, allocations } = await runningTaskOf(nomad, service, options.alloc);
    const chosen = allocations[0]!;
    ctx.output.debug(
      `running ${quote(command.join(" "))} in ${service}'s ${task}, allocation ${chosen.id.slice(0, 8)} on ${chosen.node}${tty ? " (TTY)" : ""}`,
    );
    const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
    const emit = (stream: ExecStream, lines: string[]) => {
      for (const text of lines)
        ctx.output.emit({ type: "line", alloc: chosen.id, node: chosen.node, stream, text });
    };
    const onOutput = (stream: ExecStream, data: Buffer) => {
      if (json) emit(stream, splitters[stream].push(data));
      else terminal[stream].write(data);
    };
    const restoreTerminal = tty ? rawTerminal(terminal) : () => undefined;
    let exitCode: number;
    try {
      exitCode = await nomad.exec({
        allocId: chosen.id,
        task,
        command,
        tty,
        stdin: terminal.stdin,
        ...(tty
          ? {
              terminal: {
                size: () => ({
                  rows: terminal.stdout.rows || 24,
                  columns: terminal.stdout.columns || 80,
                }),
                onResize: (listener: () => void) => {
                  terminal.stdout.on("resize", listener);
                  return () => terminal.stdout.off("resize", listener);
                },
              },
            }
          : {}),
        onOutput,
        signal: ctx.signal,
      });
    } finally {
      restoreTerminal();
      // Whatever the session did not read of stdin is not waited for.
      terminal.stdin.destroy();
    }
    if (json)
      for (const stream of ["stdout", "stderr"] as const) emit(stream, splitters[stream].end());
    const result: ExecResult = {
      service,
      task,
      alloc: chosen.id,
      node: chosen.node,
      command,
      tty,
      exitCode,
    };
    if (exitCode !== 0)
      throw new RemoteCommandFailedError(
        result,
        `${quote(command.join(" "))} exited with code ${exitCode} in ${service}'s allocation ${chosen.id.slice(0, 8)} on ${chosen.node}`,
      );
    return result;
  });
}

/** The terminal in raw mode (keys go to the command as typed, Ctrl-C too); returns the undo. */
function rawTerminal(terminal: ExecTerminal): () => void {
  const wasRaw = terminal.stdin.isRaw;
  terminal.stdin.setRawMode(true);
  return () => terminal.stdin.setRawMode(wasRaw);
}
