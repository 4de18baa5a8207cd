/**
 * Benchmark, not a test: the wall time of `elm-infra bring-up` from nothing on the local target,
 * 1 manager + 1 worker against 3 managers + 2 workers (hosts are bootstrapped in parallel, so the
 * second should cost little more than the first), each followed by destroy. Each step's time comes
 * from the CLI's own task events. Writes test/bench/results/bring-up.json. Part of `npm run bench`;
 * alone: npx vitest run --project bench test/bench/bring-up.run.ts
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { execa } from "execa";
import { expect, it } from "vitest";
import { cliPath as cli } from "../harness/cli.js";
import { makeLocalTarget, minimalServices, removeLabelled } from "../harness/local-target.js";
import { machineAtStart, writeResult } from "./results.js";

interface Measurement {
  managers: number;
  workers: number;
  bringUpSeconds: number;
  steps: Record<string, number>;
  destroySeconds: number;
}

async function measure(managers: number, workers: number, k: number): Promise<Measurement> {
  const target = `bench-${managers}-${workers}-${randomBytes(2).toString("hex")}`;
  const { work, config } = await makeLocalTarget(target, {
    managers,
    workers,
    slot: k,
    // the benchmarks' own subnets and SSH ports, apart from the e2e run's (150, 30000)
    subnetBase: 160,
    sshBase: 31_000,
    services: minimalServices,
  });
  const cliRun = (args: string[]) =>
    execa("node", [cli, ...args, "--config", config, "--target", target, "--json", "--yes"], {
      cwd: work,
      reject: false,
      stdin: "ignore",
      timeout: 1_500_000,
      env: { CI: "true" },
    });
  try {
    let began = Date.now();
    const up = await cliRun(["bring-up"]);
    const bringUpSeconds = (Date.now() - began) / 1000;
    expect(up.exitCode, String(up.stdout).slice(-3000)).toBe(0);
    const steps: Record<string, number> = {};
    for (const line of String(up.stdout).split("\n")) {
      if (!line.startsWith("{")) continue;
      const e = JSON.parse(line) as { type: string; state?: string; title?: string; ms?: number };
      if (e.type === "task" && e.state === "completed" && e.title && e.ms !== undefined)
        steps[e.title.replace(/:.*$/, "")] = Math.round(e.ms / 100) / 10;
    }
    began = Date.now();
    const down = await cliRun(["destroy"]);
    expect(down.exitCode).toBe(0);
    return {
      managers,
      workers,
      bringUpSeconds: Math.round(bringUpSeconds * 10) / 10,
      steps,
      destroySeconds: Math.round((Date.now() - began) / 100) / 10,
    };
  } finally {
    await removeLabelled(target);
    await rm(work, { recursive: true, force: true });
  }
}

it("bring-up: 1 manager + 1 worker against 3 managers + 2 workers", async () => {
  const machine = await machineAtStart();
  const small = await measure(1, 1, 0);
  const large = await measure(3, 2, 0);
  const results = {
    runs: [small, large],
    ratio: Math.round((large.bringUpSeconds / small.bringUpSeconds) * 100) / 100,
  };
  await writeResult("bring-up", machine, results);
  console.log(JSON.stringify(results, null, 2));
}, 1_800_000);
