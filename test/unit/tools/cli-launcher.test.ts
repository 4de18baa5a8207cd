/**
 * src/tools/cli.sh, what `npm run <command>` runs: on a fresh clone it installs the npm packages
 * and builds before the CLI runs (a fresh clone used to end in a MODULE_NOT_FOUND stack trace);
 * afterwards it only runs the CLI, and builds again when src/ changed. Tried on a stand-in
 * project (no dependencies, a build that writes a main.js printing its arguments), with the real
 * bash and npm, so that nothing of this repository's own build is touched.
 */
import { execa } from "execa";
import { cp, mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const launcher = resolve(import.meta.dirname, "../../../src/tools/cli.sh");
let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), "elm-infra-launcher-"));
  await mkdir(join(project, "src/tools"), { recursive: true });
  await cp(launcher, join(project, "src/tools/cli.sh"));
  await writeFile(join(project, "src/index.ts"), "export {};\n");
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({
      name: "stand-in",
      version: "1.0.0",
      private: true,
      scripts: { build: "node build.mjs" },
      dependencies: { dep: "file:dep" },
    }),
  );
  // One dependency (a local folder), as a real clone has many: npm writes its lock, then the
  // installed packages are removed, as a fresh clone has none.
  await mkdir(join(project, "dep"));
  await writeFile(join(project, "dep/package.json"), '{"name":"dep","version":"1.0.0"}');
  await execa("npm", ["install", "--offline", "--no-audit", "--no-fund"], { cwd: project });
  await rm(join(project, "node_modules"), { recursive: true, force: true });
  await writeFile(
    join(project, "build.mjs"),
    [
      'import { mkdirSync, writeFileSync } from "node:fs";',
      'mkdirSync("dist/cli", { recursive: true });',
      'writeFileSync("dist/cli/main.js", "console.log(JSON.stringify(process.argv.slice(2)));\\n");',
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

const run = (...args: string[]) =>
  execa("bash", [join(project, "src/tools/cli.sh"), ...args], {
    cwd: project,
    reject: false,
    timeout: 120_000,
    env: { npm_config_audit: "false", npm_config_fund: "false", npm_config_offline: "true" },
  });

describe("npm run <command> on a fresh clone", () => {
  it("installs the packages and builds first, its own lines on stderr only: stdout stays the CLI's", async () => {
    const r = await run("status", "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('["status","--json"]');
    expect(r.stderr).toContain("elm-infra: installing the npm packages (npm ci)");
    expect(r.stderr).toContain("elm-infra: building (npm run build)");
  });

  it("then runs the CLI alone, with nothing on stderr", async () => {
    const r = await run("deploy", "elm-lang.org@1.0.0");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('["deploy","elm-lang.org@1.0.0"]');
    expect(r.stderr).toBe("");
  });

  it("builds again when a source file is newer than the build", async () => {
    const later = new Date(Date.now() + 60_000);
    await utimes(join(project, "src/index.ts"), later, later);
    const r = await run("status");
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain("elm-infra: building");
    expect(r.stderr).not.toContain("installing");
    expect(r.stdout).toBe('["status"]');
  });
});
