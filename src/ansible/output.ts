/**
 * Reads Ansible's output line by line into events, and sums them up into which tasks failed
 * where. Playbooks print JSON lines (our callback plugin, parsed by events.ts); ad-hoc runs and
 * Ansible's own errors are screen text, read here. Pure: the runner feeds it lines.
 */
import { parseEventLine, type AnsibleEvent, type RecapCounts } from "./events.js";

export interface TaskFailure {
  host: string;
  /** undefined for ad-hoc runs. */
  task: string | undefined;
  unreachable: boolean;
  message: string;
  /** Marked `...ignoring` by the playbook: reported, but not a failure of the run. */
  ignored: boolean;
}

export interface AnsibleOutputSummary {
  failures: TaskFailure[];
  recap: Record<string, RecapCounts>;
  errors: string[];
}

const header = /^(PLAY|TASK|RUNNING HANDLER) \[(.*)\] \**$/;
const playbookResult =
  /^(ok|changed|skipping|fatal|failed): \[([^\]]+)\](?:: (FAILED!|UNREACHABLE!))?(?: \(item=(.*?)\))?(?: => (.*))?$/;
const adHocResult = /^(\S+) \| (SUCCESS|CHANGED|FAILED!|UNREACHABLE!)(?: \| rc=\d+)?(?: => (.*))?/;
const recapLine =
  /^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)/;

export class AnsibleOutputParser {
  private task: string | undefined;
  private inRecap = false;
  /** Lines of a multi-line JSON result that follows a failure, until its closing brace. */
  private pendingJson: string[] | undefined;
  private readonly summary: AnsibleOutputSummary = { failures: [], recap: {}, errors: [] };

  /** Reads one line (without its newline); returns the event it carries, if any. */
  feed(line: string): AnsibleEvent | undefined {
    const trimmed = line.replace(/\s+$/, "");
    if (this.pendingJson) {
      this.pendingJson.push(trimmed);
      if (trimmed !== "}" && this.pendingJson.length < 1000) return undefined;
      const last = this.summary.failures.at(-1);
      if (last) last.message = messageOf(this.pendingJson.join("\n"));
      this.pendingJson = undefined;
      return undefined;
    }
    const event = parseEventLine(trimmed) ?? this.parse(trimmed);
    if (event) this.record(event);
    if (event?.kind === "failure" && trimmed.endsWith("=> {")) this.pendingJson = ["{"];
    return event;
  }

  result(): AnsibleOutputSummary {
    return {
      failures: [...this.summary.failures],
      recap: { ...this.summary.recap },
      errors: [...this.summary.errors],
    };
  }

  private parse(line: string): AnsibleEvent | undefined {
    const head = header.exec(line);
    if (head) {
      this.inRecap = false;
      if (head[1] === "PLAY") return { kind: "play", name: head[2] ?? "" };
      this.task = head[2] ?? "";
      return { kind: "task", name: this.task };
    }
    if (/^PLAY RECAP \**$/.test(line)) {
      this.inRecap = true;
      return undefined;
    }
    if (this.inRecap) {
      const r = recapLine.exec(line);
      if (r) {
        const [ok, changed, unreachable, failed, skipped, rescued, ignored] = r
          .slice(2)
          .map(Number) as number[];
        return {
          kind: "recap",
          host: r[1] ?? "",
          counts: {
            ok: ok!,
            changed: changed!,
            unreachable: unreachable!,
            failed: failed!,
            skipped: skipped!,
            rescued: rescued!,
            ignored: ignored!,
          },
        };
      }
    }
    if (line === "...ignoring") {
      const last = this.summary.failures.at(-1);
      if (last) last.ignored = true;
      return undefined;
    }
    const p = playbookResult.exec(line);
    if (p) {
      const [, status, host = "", failKind, item, payload] = p;
      const withItem = item !== undefined ? { item } : {};
      if (status === "fatal" || status === "failed") {
        return {
          kind: "failure",
          host,
          task: this.task,
          unreachable: failKind === "UNREACHABLE!",
          message: messageOf(payload),
          ...withItem,
        };
      }
      return {
        kind: "result",
        host,
        task: this.task,
        status: status as "ok" | "changed" | "skipping",
        ...withItem,
      };
    }
    const a = adHocResult.exec(line);
    if (a) {
      const [, host = "", status, payload] = a;
      if (status === "FAILED!" || status === "UNREACHABLE!") {
        return {
          kind: "failure",
          host,
          task: undefined,
          unreachable: status === "UNREACHABLE!",
          message: messageOf(payload),
        };
      }
      return {
        kind: "result",
        host,
        task: undefined,
        status: status === "CHANGED" ? "changed" : "ok",
      };
    }
    if (line.startsWith("ERROR! ")) return { kind: "error", message: line.slice("ERROR! ".length) };
    return undefined;
  }

  private record(event: AnsibleEvent): void {
    if (event.kind === "failure") {
      this.summary.failures.push({
        host: event.host,
        task: event.task,
        unreachable: event.unreachable,
        message: event.message,
        ignored: event.ignored ?? false,
      });
    } else if (event.kind === "recap") {
      this.summary.recap[event.host] = event.counts;
    } else if (event.kind === "error") {
      this.summary.errors.push(event.message);
    }
  }
}

/** The `msg` of a one-line JSON result, else the payload as it is (multi-line ones start with "{"). */
function messageOf(payload: string | undefined): string {
  if (!payload || payload === "{") return "";
  try {
    const parsed = JSON.parse(payload) as { msg?: unknown; stderr?: unknown };
    const parts = [parsed.msg, parsed.stderr].filter(
      (p): p is string => typeof p === "string" && p.trim() !== "",
    );
    return parts.length > 0 ? parts.join(": ").trim() : payload;
  } catch {
    return payload;
  }
}
