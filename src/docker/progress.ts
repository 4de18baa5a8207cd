/**
 * The Docker engine answers build, push and load with a stream of JSON messages, one per line.
 * These pure functions turn that stream into log lines and results, and a failed build into a
 * message that names the failing step and shows its output.
 */
import { stripControls } from "../output/controls.js";

/** One message of the engine's JSON progress stream (the fields elm-infra reads). */
export interface ProgressMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number };
}

/** Splits a byte stream into JSON messages; chunks may end in the middle of a line. */
export class ProgressDecoder {
  private pending = "";

  push(chunk: string): ProgressMessage[] {
    this.pending += chunk;
    const lines = this.pending.split(/\r?\n/);
    this.pending = lines.pop() ?? "";
    return lines.flatMap(parseMessage);
  }

  end(): ProgressMessage[] {
    const rest = this.pending;
    this.pending = "";
    return parseMessage(rest);
  }
}

function parseMessage(line: string): ProgressMessage[] {
  const text = line.trim();
  if (text === "") return [];
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? [value as ProgressMessage] : [];
  } catch {
    // Not JSON: an engine or proxy wrote plain text; keep it as a log line.
    return [{ stream: `${text}\n` }];
  }
}

/**
 * Joins the `stream` text of consecutive messages into whole lines: a step's output may arrive
 * split anywhere, even in the middle of a line (stdout and stderr are sent as they are written).
 */
export class StreamLines {
  private rest = "";

  push(text: string): string[] {
    const parts = (this.rest + text).split(/\r?\n|\r/);
    this.rest = parts.pop() ?? "";
    return parts.map(clean).filter((l) => l !== "");
  }

  end(): string[] {
    const last = clean(this.rest);
    this.rest = "";
    return last === "" ? [] : [last];
  }
}

/** A build step's line as text: its colours, cursor moves and other terminal controls removed. */
function clean(line: string): string {
  return stripControls(line).trimEnd();
}

/** The readable lines of a message, without the terminal escape codes some steps print. */
export function messageLines(message: ProgressMessage): string[] {
  const text =
    message.stream ??
    (message.status ? [message.id, message.status].filter(Boolean).join(": ") : "");
  return text
    .split(/\r?\n|\r/)
    .map(clean)
    .filter((l) => l !== "");
}

export function messageError(message: ProgressMessage): string | undefined {
  return message.error ?? message.errorDetail?.message;
}

/** The image ID the legacy builder reports when it is done (`aux.ID`, or "Successfully built"). */
export function builtImageId(messages: readonly ProgressMessage[]): string | undefined {
  const aux = [...messages].reverse().find((m) => m.aux?.ID)?.aux?.ID;
  if (aux) return aux;
  for (const m of [...messages].reverse()) {
    const built = /^Successfully built ([0-9a-f]{12,64})\s*$/m.exec(m.stream ?? "");
    if (built) return built[1];
  }
  return undefined;
}

/** The digest the registry gave the pushed manifest, from `aux.Digest` or the final status. */
export function pushedDigest(messages: readonly ProgressMessage[]): string | undefined {
  for (const m of [...messages].reverse()) {
    if (m.aux?.Digest) return m.aux.Digest;
    const status = /digest: (sha256:[0-9a-f]{64})/.exec(m.status ?? "");
    if (status) return status[1];
  }
  return undefined;
}

const stepLine = /^Step \d+\/\d+ : /;
const builderNoise = /^( ---> |Removing intermediate container |Successfully (built|tagged) )/;

/**
 * For a failed build: the last step that started, and what it printed (at most `tail` lines),
 * so the error shows the command that failed and why.
 */
export function failedStep(
  lines: readonly string[],
  tail = 30,
): { step?: string; output: string[] } {
  let start = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (stepLine.test(lines[i]!)) {
      start = i;
      break;
    }
  }
  const output = lines.slice(start + 1).filter((l) => !builderNoise.test(l));
  const step = start === -1 ? undefined : lines[start];
  return step === undefined
    ? { output: output.slice(-tail) }
    : { step, output: output.slice(-tail) };
}

/** The message of the OperationError for a failed build. */
export function describeBuildFailure(
  image: string,
  lines: readonly string[],
  error: string,
): string {
  const { step, output } = failedStep(lines);
  const where = step ? ` at ${step}` : "";
  const shown = output.filter((l) => l.trim() !== error.trim());
  const body = shown.length > 0 ? `\n${shown.map((l) => `  | ${l}`).join("\n")}` : "";
  return `building ${image} failed${where}${body}\n  ${error.trim()}`;
}
