import { existsSync, readFileSync } from "node:fs";
import { afterEach } from "vitest";

/** Where an agent under test writes its log, and how to read its tail when a test fails. */
export interface LogSource {
  name: string;
  logs(): string;
}

const sources = new Set<LogSource>();

export function trackLogs(source: LogSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

export function readLog(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

export function lastLines(text: string, count = 50): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(Math.max(0, lines.length - count)).join("\n");
}

/** The last lines of every tracked agent's log, one titled block per agent. */
export function formatAgentLogs(count = 50): string {
  return [...sources]
    .map(
      (source) =>
        `----- ${source.name}: last ${count} log lines -----\n${lastLines(source.logs(), count)}`,
    )
    .join("\n");
}

export function printAgentLogs(count = 50): void {
  if (sources.size > 0) process.stderr.write(`${formatAgentLogs(count)}\n`);
}

/** Call at the top of a test file: when a test fails, print the tail of each running agent's log. */
export function printAgentLogsOnFailure(count = 50): void {
  afterEach((context) => {
    if (context.task.result?.state === "fail") printAgentLogs(count);
  });
}
