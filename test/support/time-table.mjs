/**
 * Where a test run's time goes, from Vitest's JSON report (test/run.sh writes one; or
 * `npx vitest run ... --reporter=json --outputFile.json=<file>`): a markdown table of each e2e
 * scenario, each integration file, and each project's total, for docs/test-times.md.
 *
 *   node test/support/time-table.mjs <report.json>                       one column
 *   node test/support/time-table.mjs --before <a.json> --after <b.json>  two columns and the change
 *   ... --out docs/test-times.md                                         written there, not printed
 *
 * Plain Node (no TypeScript, no packages): it runs where the report is, even without the build.
 *
 * What each number is (the JSON report gives each test's start and duration, not the hooks'):
 * - an e2e scenario: its `it`'s own time (the cluster's bring-up is the first scenario);
 * - an integration file: wall time from the previous integration file's last test end to this
 *   one's (files run one at a time: it includes its import, beforeAll and the previous afterAll),
 *   the first from where the project started (below);
 * - a project (integration, e2e): from where it started (the run's start, or the end of the
 *   other project it ran after) to its last test end; unit the sum of its files' test times
 *   (it runs beside the others: no wall time of its own).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { relative, sep } from "node:path";
import process from "node:process";

/** The project a test file belongs to, from its folder (vitest.config.ts's includes). */
function projectOf(file) {
  const parts = file.split(sep).join("/");
  for (const name of ["e2e", "integration", "unit", "bench"])
    if (parts.includes(`/test/${name}/`)) return name;
  return "other";
}

/** Seconds, one decimal. */
const seconds = (ms) => Math.round(ms / 100) / 10;

/** The report's times: per e2e scenario, per integration file, per project (all in seconds). */
export function timesOf(report) {
  const files = report.testResults.map((f) => ({
    name: f.name,
    project: projectOf(f.name),
    startTime: f.startTime,
    endTime: f.endTime,
    tests: f.assertionResults,
  }));
  const of = (project) => files.filter((f) => f.project === project);
  const lastEnd = (list) => Math.max(report.startTime, ...list.map((f) => f.endTime));
  /**
   * Where a project's wall time starts: the run's start, or the end of the last other project's
   * file that ended before its first test began (a project run after another one).
   */
  const originOf = (project) => {
    const first = Math.min(...of(project).map((f) => f.startTime));
    const before = files.filter((f) => f.project !== project && f.endTime <= first);
    return lastEnd(before);
  };

  const integration = of("integration").sort((a, b) => a.endTime - b.endTime);
  const integrationFiles = [];
  let previous = integration.length ? originOf("integration") : report.startTime;
  for (const f of integration) {
    integrationFiles.push({
      name: shortName(f.name),
      seconds: seconds(f.endTime - previous),
      status: statusOf(f.tests),
    });
    previous = f.endTime;
  }

  const e2eScenarios = of("e2e").flatMap((f) =>
    f.tests.map((t) => ({
      name: t.title,
      seconds: seconds(t.duration ?? 0),
      status: t.status,
    })),
  );

  const wall = (project) =>
    of(project).length ? seconds(lastEnd(of(project)) - originOf(project)) : 0;
  const totals = {
    unit: seconds(of("unit").reduce((sum, f) => sum + (f.endTime - f.startTime), 0)),
    integration: wall("integration"),
    e2e: wall("e2e"),
    all: seconds(lastEnd(files) - report.startTime),
  };
  return { integrationFiles, e2eScenarios, totals };
}

const statusOf = (tests) =>
  tests.some((t) => t.status === "failed")
    ? "failed"
    : tests.every((t) => t.status === "passed")
      ? "passed"
      : "partly skipped";

function shortName(file) {
  const rel = relative(process.cwd(), file).split(sep).join("/");
  const i = rel.indexOf("test/");
  return i >= 0 ? rel.slice(i) : rel;
}

/** A markdown-safe cell: pipes escaped, at most `max` characters. */
function cell(text, max = 160) {
  const one = String(text).replace(/\s+/g, " ").replace(/\|/g, "\\|");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

const show = (row) =>
  row === undefined ? "–" : `${row.seconds}${row.status === "passed" ? "" : ` (${row.status})`}`;

/** Rows of `after` in its order, then those only in `before`; each with both columns. */
function paired(before, after) {
  const key = (r) => r.name;
  const rows = after.map((r) => ({
    name: r.name,
    before: before.find((b) => key(b) === key(r)),
    after: r,
  }));
  for (const b of before)
    if (!after.some((a) => key(a) === key(b)))
      rows.push({ name: b.name, before: b, after: undefined });
  return rows;
}

function change(before, after) {
  if (before === undefined || after === undefined) return "";
  const d = Math.round((after - before) * 10) / 10;
  return d > 0 ? `+${d}` : String(d);
}

function table(title, rows, two) {
  const head = two
    ? `| ${title} | before (s) | after (s) | change (s) |\n| --- | ---: | ---: | ---: |`
    : `| ${title} | seconds |\n| --- | ---: |`;
  const lines = rows.map((r) =>
    two
      ? `| ${cell(r.name)} | ${show(r.before)} | ${show(r.after)} | ${change(r.before?.seconds, r.after?.seconds)} |`
      : `| ${cell(r.name)} | ${show(r.after)} |`,
  );
  return [head, ...lines].join("\n");
}

/** The markdown: totals, the e2e scenarios in run order, the integration files in run order. */
export function timeTable(after, before) {
  const two = before !== undefined;
  const b = before ?? { integrationFiles: [], e2eScenarios: [], totals: {} };
  const totalRows = ["all", "e2e", "integration", "unit"].map((p) => ({
    name:
      p === "all"
        ? "the whole Vitest run"
        : p === "unit"
          ? "unit (the sum of its files; beside integration, no wall time)"
          : p,
    before: b.totals[p] === undefined ? undefined : { seconds: b.totals[p], status: "passed" },
    after:
      after.totals[p] === undefined ? undefined : { seconds: after.totals[p], status: "passed" },
  }));
  const byTime = (rows) =>
    [...rows].sort((x, y) => (y.after?.seconds ?? 0) - (x.after?.seconds ?? 0));
  return [
    "### Totals",
    "",
    table("project", totalRows, two),
    "",
    "### e2e scenarios, in run order (test/e2e/cluster.test.ts and scenarios/)",
    "",
    table("scenario", paired(b.e2eScenarios, after.e2eScenarios), two),
    "",
    "### integration files, longest first (test/integration/)",
    "",
    table("file", byTime(paired(b.integrationFiles, after.integrationFiles)), two),
    "",
  ].join("\n");
}

function main(argv) {
  const args = { before: undefined, after: undefined, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--before" || a === "--after" || a === "--out") {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a file`);
      args[a.slice(2)] = argv[++i];
    } else if (a === "--help" || a === "-h") {
      process.stdout.write(
        "usage: node test/support/time-table.mjs [--before <report.json>] [--after] <report.json> [--out <file.md>]\n",
      );
      return 0;
    } else if (args.after === undefined) args.after = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (args.after === undefined) throw new Error("name a Vitest JSON report (--reporter=json)");
  const read = (file) => timesOf(JSON.parse(readFileSync(file, "utf8")));
  const markdown = timeTable(read(args.after), args.before ? read(args.before) : undefined);
  if (args.out) writeFileSync(args.out, markdown);
  else process.stdout.write(markdown);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`time-table: ${error.message}\n`);
    process.exitCode = 2;
  }
}
