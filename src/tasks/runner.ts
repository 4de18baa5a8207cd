import { Listr } from "listr2";
import { abortReason } from "../errors.js";
import type { Output } from "../output/output.js";
import { stripControls } from "../output/controls.js";
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
  /** Fields of the shared state this step reads, that an earlier step (or the start) gives. */
  needs?: ReadonlyArray<keyof C & string>;
  /** Fields this step sets for the steps after it. */
  gives?: ReadonlyArray<keyof C & string>;
}

/**
 * Before anything runs: every step's declared needs are given by the state at the start or by
 * an earlier step. A misordered list is a bug in elm-infra, said with the step and the field.
 */
export function checkStepOrder<C extends object>(steps: Step<C>[], ctx: C): void {
  const given = new Set(
    Object.entries(ctx).flatMap(([key, value]) => (value === undefined ? [] : [key])),
  );
  for (const step of steps) {
    const missing = (step.needs ?? []).filter((field) => !given.has(field));
    if (missing.length > 0)
      throw new Error(
        `step "${step.title}" needs ${missing.join(", ")}, which no step before it gives (the steps are in the wrong order)`,
      );
    for (const field of step.gives ?? []) given.add(field);
  }
}

/** A field a step declared it needs: there, or a clear error naming the step and the field. */
export function needed<C, K extends keyof C>(ctx: C, field: K, step: string): NonNullable<C[K]> {
  const value = ctx[field];
  if (value === undefined || value === null)
    throw new Error(`step "${step}" needs ${String(field)}, which no step before it gave`);
  return value as NonNullable<C[K]>;
}

export interface RunOptions {
  output: Output;
  signal: AbortSignal;
  /** Where the runner records how long each step took. */
  timings?: StepTimings;
  /** The phase these steps belong to (e.g. plan, submit, rollout), for the timings. */
  phase?: string;
}

export interface StepTiming {
  title: string;
  phase?: string;
  state: "completed" | "failed";
  ms: number;
}

/** How long each step took, as the runner measured it; commands report these. */
export class StepTimings {
  readonly steps: StepTiming[] = [];
  private readonly started = performance.now();

  record(timing: StepTiming): void {
    this.steps.push(timing);
  }

  /** Milliseconds per phase, and `total` since these timings were created. */
  byPhase(): Record<string, number> {
    const phases: Record<string, number> = {};
    for (const { phase, ms } of this.steps) if (phase) phases[phase] = (phases[phase] ?? 0) + ms;
    return { ...phases, total: Math.round(performance.now() - this.started) };
  }
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
  checkStepOrder(steps, ctx);
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
        if (signal.aborted) throw abortReason(signal);
        let title = step.title;
        const started = performance.now();
        const elapsed = (state: StepTiming["state"]) => {
          const ms = Math.round(performance.now() - started);
          options.timings?.record({
            title,
            state,
            ms,
            ...(options.phase ? { phase: options.phase } : {}),
          });
          return ms;
        };
        output.emit({ type: "task", state: "started", title });
        const handle: StepHandle = {
          log: (line) => {
            if (tty) task.output = redact(stripControls(line));
            output.info(line, title);
          },
          setTitle: (t) => {
            title = t;
            task.title = redact(stripControls(t));
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
            ms: elapsed("failed"),
            error: error instanceof Error ? error.message.split("\n")[0]! : String(error),
          });
          throw error;
        }
        output.emit({ type: "task", state: "completed", title, ms: elapsed("completed") });
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

/** One named step whose work returns a value: runSteps for a command that is a single step. */
export async function runStep<T>(
  title: string,
  work: (step: StepHandle) => Promise<T>,
  options: RunOptions,
): Promise<T> {
  const state: { value?: T } = {};
  await runSteps(
    [{ title, run: async (s, step) => void (s.value = await work(step)) }],
    state,
    options,
  );
  return state.value as T;
}

/**
 * Runs named steps inside a running step (a rollout that is one part of a larger step, as the
 * package data's restart): each step's title becomes a line of the enclosing step, its skip is
 * honoured, the first failure stops the rest as in runSteps.
 */
export async function runStepsWithin<C extends object>(
  steps: Step<C>[],
  ctx: C,
  step: StepHandle,
): Promise<C> {
  checkStepOrder(steps, ctx);
  for (const s of steps) {
    if (step.signal.aborted) throw abortReason(step.signal);
    const skipped = s.skip?.(ctx);
    if (skipped) continue;
    step.log(s.title);
    await s.run(ctx, { ...step, setTitle: () => undefined });
  }
  return ctx;
}
