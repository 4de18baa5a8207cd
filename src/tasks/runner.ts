import { Listr } from "listr2";
import { InterruptedError } from "../errors.js";
import type { Output } from "../output/output.js";
import { redact } from "../output/redact.js";

/** What a running step may do: report progress, rename itself, notice Ctrl-C. */
export interface StepHandle {
  log(line: string): void;
  setTitle(title: string): void;
  readonly signal: AbortSignal;
}

export interface Step<C> {
  title: string;
  /** Return a reason to skip the step, or false to run it. */
  skip?: (ctx: C) => string | false;
  run(ctx: C, step: StepHandle): Promise<void> | void;
}

export interface RunOptions {
  output: Output;
  signal: AbortSignal;
}

/**
 * Runs steps in order on listr2. On a terminal listr2 draws the progress; otherwise each step
 * becomes events on the one output stream (plain lines or JSON lines). The first failure stops
 * the run and is re-thrown as it is, so its type decides the exit code.
 */
export async function runSteps<C extends object>(
  steps: Step<C>[],
  ctx: C,
  options: RunOptions,
): Promise<C> {
  const { output, signal } = options;
  const tty = output.mode === "tty";
  const list = new Listr<C>(
    steps.map((step) => ({
      title: step.title,
      task: async (c: C, task: { output: string; title: string; skip(reason: string): void }) => {
        const reason = step.skip?.(c);
        if (reason) {
          output.emit({ type: "task", state: "skipped", title: step.title, reason });
          task.skip(reason);
          return;
        }
        if (signal.aborted) throw new InterruptedError();
        let title = step.title;
        const started = Date.now();
        output.emit({ type: "task", state: "started", title });
        const handle: StepHandle = {
          log: (line) => {
            if (tty) task.output = redact(line);
            output.info(line, title);
          },
          setTitle: (t) => {
            title = t;
            task.title = redact(t);
          },
          signal,
        };
        try {
          await step.run(c, handle);
        } catch (error) {
          output.emit({
            type: "task",
            state: "failed",
            title,
            ms: Date.now() - started,
            error: error instanceof Error ? error.message.split("\n")[0]! : String(error),
          });
          throw error;
        }
        output.emit({ type: "task", state: "completed", title, ms: Date.now() - started });
      },
    })),
    {
      ctx,
      exitOnError: true,
      registerSignalListeners: false,
      renderer: tty ? "default" : "silent",
      fallbackRenderer: "silent",
      rendererOptions: { collapseErrors: false, collapseSubtasks: false },
    } as never,
  );
  await list.run();
  return ctx;
}
