import { readFile, mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "../..");

/** The tools' versions pinned in src/tools/versions.json: what the benchmarks ran against. */
async function toolVersions(): Promise<Record<string, string>> {
  const pinned = JSON.parse(
    await readFile(join(repo, "src/tools/versions.json"), "utf8"),
  ) as Record<string, { version: string }>;
  return Object.fromEntries(
    ["nomad", "consul", "traefik", "tofu"].map((tool) => [tool, pinned[tool]?.version ?? "?"]),
  );
}

/**
 * The machine a benchmark runs on, taken when it starts: the load average then says how much
 * other work shared the CPUs.
 */
export async function machineAtStart() {
  return {
    startedAt: new Date().toISOString(),
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))) as [number, number, number],
    node: process.version,
    tools: await toolVersions(),
  };
}

/**
 * Writes test/bench/results/<name>.json: the date, the machine (as `machineAtStart` saw it when
 * the benchmark began) and the load average at the end, then the figures.
 */
export async function writeResult(
  name: string,
  machine: Awaited<ReturnType<typeof machineAtStart>>,
  result: object,
): Promise<void> {
  const dir = join(repo, "test/bench/results");
  await mkdir(dir, { recursive: true });
  const doc = {
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))) },
    ...result,
  };
  await writeFile(join(dir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
}

/** Median, fastest and slowest of some milliseconds, rounded. */
export function summarize(ms: readonly number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    runs: sorted.length,
    medianMs: Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN),
    minMs: Math.round(sorted[0] ?? NaN),
    maxMs: Math.round(sorted[sorted.length - 1] ?? NaN),
  };
}
