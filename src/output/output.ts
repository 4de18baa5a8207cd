import { stripControls, stripControlsDeep } from "./controls.js";
import { redact } from "./redact.js";

export type OutputMode = "tty" | "plain" | "json";

/** Everything the tool tells the user is one of these events. */
export type OutputEvent =
  | {
      type: "task";
      state: "started" | "completed" | "skipped";
      title: string;
      ms?: number;
      reason?: string;
    }
  | { type: "task"; state: "failed"; title: string; ms: number; error: string }
  | { type: "log"; level: "info" | "warn" | "debug"; message: string; task?: string }
  | {
      /** A line a task wrote (logs; exec with --json): on stdout or stderr as the task wrote it. */
      type: "line";
      alloc: string;
      node: string;
      stream: "stdout" | "stderr";
      text: string;
    }
  | { type: "result"; command: string; data: unknown; text?: string }
  | { type: "error"; exitCode: number; error: string; message: string; hint?: string };

export interface Writable {
  write(chunk: string): unknown;
}

export function chooseMode(opts: { json?: boolean; isTTY?: boolean; ci?: boolean }): OutputMode {
  if (opts.json) return "json";
  return opts.isTTY && !opts.ci ? "tty" : "plain";
}

/**
 * The one output stream. JSON mode writes one event per line on stdout; plain mode writes
 * readable lines (progress and logs on stderr, results on stdout, so `| jq` and `> file` work);
 * TTY mode leaves task progress to listr2 and prints the rest like plain mode. Every line is
 * stripped of terminal control sequences (servers' text reaches it) and passes through `redact`.
 */
export class Output {
  constructor(
    readonly mode: OutputMode,
    readonly verbose = false,
    private readonly out: Writable = process.stdout,
    private readonly err: Writable = process.stderr,
  ) {}

  emit(event: OutputEvent): void {
    if (event.type === "log" && event.level === "debug" && !this.verbose) return;
    if (this.mode === "json") {
      // a result's `text` is its human form; JSON readers get the data
      const json =
        event.type === "result"
          ? { type: event.type, command: event.command, data: event.data }
          : event;
      const line = JSON.stringify(stripControlsDeep(json));
      this.out.write(redact(line) + "\n");
      return;
    }
    const line = humanLine(event, this.mode);
    if (line === undefined) return;
    const stream =
      event.type === "result" || (event.type === "line" && event.stream === "stdout")
        ? this.out
        : this.err;
    stream.write(redact(stripControls(line)) + "\n");
  }

  info(message: string, task?: string): void {
    this.emit({ type: "log", level: "info", message, ...(task ? { task } : {}) });
  }
  warn(message: string): void {
    this.emit({ type: "log", level: "warn", message });
  }
  debug(message: string): void {
    this.emit({ type: "log", level: "debug", message });
  }
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "" : ` (${(ms / 1000).toFixed(1)}s)`;
}

function humanLine(event: OutputEvent, mode: OutputMode): string | undefined {
  switch (event.type) {
    case "task":
      if (mode === "tty") return undefined; // listr2 draws tasks on a terminal
      if (event.state === "started") return `▶ ${event.title}`;
      if (event.state === "completed") return `✔ ${event.title}${seconds(event.ms)}`;
      if (event.state === "skipped")
        return `↓ ${event.title} [skipped${event.reason ? `: ${event.reason}` : ""}]`;
      return event.state === "failed"
        ? `✖ ${event.title}${seconds(event.ms)}: ${event.error}`
        : undefined;
    case "log":
      if (event.task && mode === "tty") return undefined;
      return event.level === "warn"
        ? `warning: ${event.message}`
        : event.task
          ? `  ${event.message}`
          : event.message;
    case "line":
      return `${event.alloc.slice(0, 8)} ${event.node}| ${event.text}`;
    case "result":
      return (
        event.text ??
        (typeof event.data === "string" ? event.data : JSON.stringify(event.data, null, 2))
      );
    case "error":
      return `error: ${event.message}${event.hint ? `\nhint: ${event.hint}` : ""}`;
  }
}
