import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const script = join(repo, "test/support/time-table.mjs");
const run = promisify(execFile);

/** A Vitest JSON report as test/run.sh writes one: times in ms since the epoch. */
function report(o: { integration: [number, number]; scenarios: [number, number] }) {
  const t0 = 1_000_000;
  const test = (title: string, duration: number) => ({
    ancestorTitles: ["local cluster e2e-1"],
    title,
    status: "passed",
    duration,
  });
  return {
    startTime: t0,
    numPassedTests: 5,
    testResults: [
      {
        name: join(repo, "test/unit/a.test.ts"),
        startTime: t0 + 1000,
        endTime: t0 + 1500,
        assertionResults: [test("unit", 500)],
      },
      {
        name: join(repo, "test/integration/first.test.ts"),
        startTime: t0 + 5000,
        endTime: t0 + o.integration[0],
        assertionResults: [test("one", 100)],
      },
      {
        name: join(repo, "test/integration/second.test.ts"),
        startTime: t0 + o.integration[0] + 1000,
        endTime: t0 + o.integration[0] + o.integration[1],
        assertionResults: [test("two", 100)],
      },
      {
        name: join(repo, "test/e2e/cluster.test.ts"),
        startTime: t0 + 200_000,
        endTime: t0 + 200_000 + o.scenarios[0] + o.scenarios[1],
        assertionResults: [test("bring-up", o.scenarios[0]), test("a | b", o.scenarios[1])],
      },
    ],
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "time-table-"));
  await writeFile(
    join(dir, "before.json"),
    JSON.stringify(report({ integration: [60_000, 30_000], scenarios: [90_000, 20_000] })),
  );
  await writeFile(
    join(dir, "after.json"),
    JSON.stringify(report({ integration: [40_000, 30_000], scenarios: [80_000, 20_000] })),
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("test/support/time-table.mjs: where a run's time goes, from Vitest's JSON report", () => {
  it("one report: each e2e scenario, each integration file's wall time, each project", async () => {
    const { stdout } = await run("node", [script, join(dir, "after.json")], { cwd: repo });
    expect(stdout).toContain("| the whole Vitest run | 300 |");
    // e2e: it ran after the integration files: from their end to its last test's end.
    expect(stdout).toContain("| e2e | 230 |");
    // integration: from the end of the unit file that ended before it began.
    expect(stdout).toContain("| integration | 68.5 |");
    expect(stdout).toContain("| bring-up | 80 |");
    // A pipe in a title does not break the table.
    expect(stdout).toContain("| a \\| b | 20 |");
    // Each file from the previous one's end: its import and beforeAll count.
    expect(stdout).toContain("| test/integration/first.test.ts | 38.5 |");
    expect(stdout).toContain("| test/integration/second.test.ts | 30 |");
  });

  it("two reports: before, after and the change, written where --out says", async () => {
    const out = join(dir, "times.md");
    const args = ["--before", join(dir, "before.json"), "--after", join(dir, "after.json")];
    const { stdout } = await run("node", [script, ...args, "--out", out], { cwd: repo });
    expect(stdout).toBe("");
    const table = await readFile(out, "utf8");
    expect(table).toContain("| bring-up | 90 | 80 | -10 |");
    expect(table).toContain("| test/integration/first.test.ts | 58.5 | 38.5 | -20 |");
    expect(table).toContain("| integration | 88.5 | 68.5 | -20 |");
  });

  it("without a report: exit 2 and what to give it", async () => {
    const failed = await run("node", [script], { cwd: repo }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringMatching(/JSON report/) });
  });
});
