/**
 * Pure parts of `logs` and `exec`: which allocations a command works on, a byte stream cut into
 * lines, and what `--since` can tell of a line (Nomad keeps no time per log line: only a line
 * that carries its own timestamp can be placed in time).
 */
import { StringDecoder } from "node:string_decoder";
import { UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import type { AllocationStub } from "../nomad/types.js";

/** A running allocation as the commands name it: its ID and the node it runs on. */
export interface RunningAllocation {
  id: string;
  node: string;
}

/**
 * The running allocations of a service's job (oldest first), or the one(s) whose ID starts with
 * `prefix`. A prefix that matches none is refused, naming the running ones.
 */
export function pickAllocations(
  service: string,
  stubs: readonly AllocationStub[],
  prefix?: string,
): RunningAllocation[] {
  const running = stubs
    .filter((a) => a.ClientStatus === "running" && a.DesiredStatus === "run")
    .sort((a, b) => a.CreateIndex - b.CreateIndex)
    .map((a) => ({ id: a.ID, node: a.NodeName ?? a.NodeID.slice(0, 8) }));
  if (prefix === undefined) return running;
  const chosen = running.filter((a) => a.id.startsWith(prefix));
  if (chosen.length === 0)
    throw new UsageError(
      `no running allocation of ${service} has an ID starting with ${quote(prefix)}`,
      running.length
        ? `running: ${running.map((a) => `${a.id.slice(0, 8)} on ${a.node}`).join(", ")}`
        : `${service} has no running allocation: elm-infra status ${service}`,
    );
  return chosen;
}

/**
 * Cuts a byte stream into lines as it comes: a line is passed on once its newline arrives (a
 * character split between two chunks is kept whole); `end` gives what is left without one.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  push(chunk: Buffer): string[] {
    const lines = (this.pending + this.decoder.write(chunk)).split("\n");
    this.pending = lines.pop()!;
    return lines.map((l) => l.replace(/\r$/, ""));
  }

  end(): string[] {
    const rest = this.pending + this.decoder.end();
    this.pending = "";
    return rest === "" ? [] : [rest.replace(/\r$/, "")];
  }
}

/** `--since`: a duration like 30s, 10m or 2h. */
export function parseSince(value: string): number {
  const m = /^([0-9]{1,5})(s|m|h)$/.exec(value);
  if (!m)
    throw new UsageError(
      `--since takes a duration like 30s, 10m or 2h, not ${quote(value)}`,
      "for example: elm-infra logs elm-lang.org --since 10m",
    );
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as "s" | "m" | "h"];
}

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * Pure: the time a log line states at its start (after an optional `[`), in ms since the epoch:
 * RFC 3339 / ISO 8601 (`2026-05-01T12:00:00Z`, a space for the T; no zone read as UTC), or the
 * common log format (`01/May/2026:12:00:00 +0000`). Undefined when the line states none.
 */
export function lineTime(line: string): number | undefined {
  const iso = /^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?/.exec(
    line,
  );
  if (iso) {
    const zone = iso[3] ? iso[3].replace(/^([+-]\d{2})(\d{2})$/, "$1:$2") : "Z";
    const t = Date.parse(`${iso[1]}T${iso[2]}${zone}`);
    return Number.isNaN(t) ? undefined : t;
  }
  const clf = /^\[?(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}:\d{2}:\d{2}) ([+-])(\d{2})(\d{2})/.exec(
    line,
  );
  if (clf) {
    const month = months.indexOf(clf[2]!) + 1;
    if (month === 0) return undefined;
    const t = Date.parse(
      `${clf[3]}-${String(month).padStart(2, "0")}-${clf[1]}T${clf[4]}${clf[5]}${clf[6]}:${clf[7]}`,
    );
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/**
 * `--since` over one log's lines, in order: a line that states its time is shown when that time
 * is at or after `from`; a line that states none (a stack trace's next line, or a log that never
 * states times) follows the last line that did, and is shown when nothing before it did
 * (then nothing can place it). `untimed` counts those, so the command can say so.
 */
export class SinceFilter {
  private showing = true;
  /** A line stated its time: the filter works on this log. */
  sawTime = false;
  /** Lines shown that no stated time placed. */
  untimed = 0;
  constructor(private readonly from: number) {}

  keep(line: string): boolean {
    const t = lineTime(line);
    if (t !== undefined) {
      this.sawTime = true;
      this.showing = t >= this.from;
      return this.showing;
    }
    if (this.showing && !this.sawTime) this.untimed += 1;
    return this.showing;
  }
}
