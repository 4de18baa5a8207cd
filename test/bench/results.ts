import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";

/** The machine a benchmark ran on, written beside its numbers. */
function machine() {
  return {
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  };
}

/** Writes test/bench/results/<name>.json with the date and the machine first. */
export async function writeResult(name: string, result: object): Promise<void> {
  const dir = resolve(import.meta.dirname, "results");
  await mkdir(dir, { recursive: true });
  const doc = { date: new Date().toISOString(), machine: machine(), ...result };
  await writeFile(join(dir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
}
