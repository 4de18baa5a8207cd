/**
 * The JSON lines that playbooks/callback_plugins/elm_infra_jsonl.py prints, one per event, turned
 * into typed events. Pure: a line in, an event (or nothing) out. The events' types live here, and
 * output.ts (which also reads Ansible's screen text) imports them: no import circle.
 */

/** One host's line of the play recap. */
export interface RecapCounts {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
  ignored: number;
}

/** What one line of a run said. */
export type AnsibleEvent =
  | { kind: "play"; name: string }
  | { kind: "task"; name: string; role?: string; handler?: boolean }
  | {
      kind: "result";
      host: string;
      task: string | undefined;
      status: "ok" | "changed" | "skipping";
      item?: string;
    }
  | {
      kind: "failure";
      host: string;
      task: string | undefined;
      unreachable: boolean;
      message: string;
      item?: string;
      /** The playbook ignores this failure (`ignore_errors`); it does not fail the run. */
      ignored?: boolean;
    }
  /** A task with `until` failed an attempt and tries again. */
  | { kind: "retry"; host: string; task: string; attempt: number; retries: number }
  | { kind: "warning"; message: string }
  | { kind: "recap"; host: string; counts: RecapCounts }
  | { kind: "error"; message: string };

interface JsonLine {
  event?: unknown;
  name?: unknown;
  role?: unknown;
  handler?: unknown;
  host?: unknown;
  task?: unknown;
  status?: unknown;
  item?: unknown;
  unreachable?: unknown;
  ignored?: unknown;
  message?: unknown;
  attempt?: unknown;
  retries?: unknown;
  counts?: Record<string, unknown>;
}

const recapKeys = [
  "ok",
  "changed",
  "unreachable",
  "failed",
  "skipped",
  "rescued",
  "ignored",
] as const satisfies readonly (keyof RecapCounts)[];

/**
 * One line of the callback's output; undefined for anything else (a line that is not a JSON
 * object with a known `event`, such as Ansible's own `ERROR!` lines on stderr).
 */
export function parseEventLine(line: string): AnsibleEvent | undefined {
  const text = line.trim();
  if (!text.startsWith("{") || !text.endsWith("}")) return undefined;
  let json: JsonLine;
  try {
    json = JSON.parse(text) as JsonLine;
  } catch {
    return undefined;
  }
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  const item = typeof json.item === "string" ? { item: json.item } : {};
  switch (json.event) {
    case "play":
      return { kind: "play", name: str(json.name) };
    case "task":
      return {
        kind: "task",
        name: str(json.name),
        ...(typeof json.role === "string" ? { role: json.role } : {}),
        ...(json.handler === true ? { handler: true } : {}),
      };
    case "result": {
      const status = json.status === "skipped" ? "skipping" : json.status;
      if (status !== "ok" && status !== "changed" && status !== "skipping") return undefined;
      return { kind: "result", host: str(json.host), task: str(json.task), status, ...item };
    }
    case "failure":
      return {
        kind: "failure",
        host: str(json.host),
        task: str(json.task),
        unreachable: json.unreachable === true,
        message: str(json.message),
        ...item,
        ...(json.ignored === true ? { ignored: true } : {}),
      };
    case "retry":
      return {
        kind: "retry",
        host: str(json.host),
        task: str(json.task),
        attempt: Number(json.attempt) || 0,
        retries: Number(json.retries) || 0,
      };
    case "warning":
      return { kind: "warning", message: str(json.message) };
    case "recap": {
      const counts = Object.fromEntries(
        recapKeys.map((k) => [k, Number(json.counts?.[k]) || 0]),
      ) as unknown as RecapCounts;
      return { kind: "recap", host: str(json.host), counts };
    }
    default:
      return undefined;
  }
}
