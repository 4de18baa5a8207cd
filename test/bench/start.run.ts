import { execa } from "execa";
import { resolve } from "node:path";
import { expect, it } from "vitest";
import { hasTool, toolPath } from "../harness/agents.js";
import { cliPath as cli, ensureBuilt } from "../harness/cli.js";
import { machineAtStart, writeResult } from "./results.js";

/**
 * Benchmark, not a test: how long the built CLI takes to start and answer, beside `node -e 0`
 * (the floor any Node program pays) and `nomad version` (a Go CLI). Each command runs `rounds`
 * times after two warm-up runs; medians are compared. It never fails on a slow machine: it only
 * measures. Writes test/bench/results/start.json. Run: npm run bench
 */
const repo = resolve(import.meta.dirname, "../..");
const rounds = Number(process.env.BENCH_START_ROUNDS ?? 15);

interface Case {
  name: string;
  file: string;
  args: string[];
  exitCode: number;
}

async function timeOf(c: Case): Promise<number> {
  const started = performance.now();
  const r = await execa(c.file, c.args, {
    cwd: repo,
    reject: false,
    stdin: "ignore",
    timeout: 60_000,
  });
  const ms = performance.now() - started;
  if (r.exitCode !== c.exitCode)
    throw new Error(`${c.name}: exit ${r.exitCode}, expected ${c.exitCode}\n${r.stderr}`);
  return ms;
}

it("start: elm-infra --help, render, a usage error vs node -e 0 and nomad version", async () => {
  await ensureBuilt();
  const machine = await machineAtStart();
  const cases: Case[] = [
    { name: "node -e 0", file: process.execPath, args: ["-e", "0"], exitCode: 0 },
    { name: "elm-infra --help", file: process.execPath, args: [cli, "--help"], exitCode: 0 },
    {
      name: "elm-infra render elm-lang.org@1.4.2",
      file: process.execPath,
      args: [cli, "render", "elm-lang.org@1.4.2", "--target", "local"],
      exitCode: 0,
    },
    {
      name: "elm-infra deploy (usage error)",
      file: process.execPath,
      args: [cli, "deploy"],
      exitCode: 2,
    },
    ...(hasTool("nomad")
      ? [{ name: "nomad version", file: toolPath("nomad"), args: ["version"], exitCode: 0 }]
      : []),
  ];
  const samples = new Map<string, number[]>();
  for (const c of cases) await timeOf(c).then(() => timeOf(c)); // warm the file cache
  // interleaved, so a burst of load elsewhere hits every command alike
  for (let i = 0; i < rounds; i++)
    for (const c of cases) samples.set(c.name, [...(samples.get(c.name) ?? []), await timeOf(c)]);

  const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
  const floor = median(samples.get("node -e 0")!);
  const results = cases.map((c) => {
    const ms = samples.get(c.name)!;
    return {
      command: c.name,
      runs: ms.length,
      medianMs: Math.round(median(ms)),
      minMs: Math.round(Math.min(...ms)),
      maxMs: Math.round(Math.max(...ms)),
      timesNode: Number((median(ms) / floor).toFixed(2)),
    };
  });
  const result = {
    target: "elm-infra --help at most 2 x node -e 0",
    results,
    ...(hasTool("nomad") ? {} : { note: "nomad is not built here: bash src/tools/install.sh" }),
  };
  await writeResult("start", machine, result);
  for (const r of results) expect(r.runs).toBe(rounds);
}, 600_000);
