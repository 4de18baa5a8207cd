/**
 * Issue 12's bad-input cases that need no cluster (test/support/bad-input-cases.ts), run in
 * process on the current source: each in a project folder of its own (a copy of cluster.yaml,
 * its secrets file, jobs/), each ending with its documented exit code and message, no secret in
 * the output, and the folder as it was. Those that need the running cluster stay in the e2e.
 */
import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { badInputCases, type BadInputCase } from "../../support/bad-input-cases.js";
import { folderTree, repo, runInProcess } from "../../support/cli.js";

const target = "local";
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "elm-infra-bad-input-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The case's project: cluster.yaml and secrets/local.yaml, changed as it says; jobs/ linked. */
async function prepare(c: BadInputCase, index: number): Promise<string> {
  const dir = join(work, String(index));
  await mkdir(join(dir, "secrets"), { recursive: true });
  await symlink(join(repo, "jobs"), join(dir, "jobs"));
  const text = await readFile(join(repo, "cluster.yaml"), "utf8");
  let yaml = c.clusterText ? c.clusterText(text) : text;
  if (c.cluster) {
    const doc = parseDocument(yaml);
    for (const [path, value] of c.cluster)
      doc.setIn(
        path.map((p) => (p === "%t" ? target : p)),
        value,
      );
    yaml = doc.toString();
  }
  await writeFile(join(dir, "cluster.yaml"), yaml);
  const secrets = `nomadToken: "${randomUUID()}"\n`;
  const file = join(dir, "secrets", `${target}.yaml`);
  await writeFile(file, c.secrets ? c.secrets(secrets) : secrets);
  await chmod(file, 0o600);
  return dir;
}

const cases = badInputCases.filter((c) => !c.needsCluster);

describe("bad input without a cluster: the documented exit code and message, nothing changed", () => {
  it("keeps most of the table here, out of the e2e", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, i) => {
    const dir = await prepare(c, i);
    const before = await folderTree(dir);
    const args = [
      ...c.args,
      "--json",
      "--config",
      c.config ?? join(dir, "cluster.yaml"),
      "--target",
      c.target ?? target,
    ];
    const r = await runInProcess(args, { cwd: dir, env: { HOME: dir, ...c.env } });
    const events = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const error = events.find((e) => e.type === "error");
    const told = error ? `${String(error.message)}\n${String(error.hint ?? "")}` : r.stderr;
    expect(r.exitCode, told).toBe(c.exitCode);
    expect(told).toMatch(c.message);
    if (c.secret) expect(`${r.stdout}\n${r.stderr}`).not.toContain(c.secret);
    expect(await folderTree(dir)).toEqual(before);
  });
});
