/**
 * src/tools/versions.json's `alsoCached`: the versions of a tool that install.sh caches beside the
 * pinned one (Traefik's are what `upgrade --traefik <v>` rolls to without a build; the e2e's
 * upgrade scenario uses the first). And the scripts' answers to a version they cannot take, run
 * with empty caches of their own, so that nothing of this machine's cache is touched.
 */
import { execa } from "execa";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import semver from "semver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../../..");

type Entry = { version: string; alsoCached?: unknown };
const versions = JSON.parse(
  await readFile(join(repo, "src/tools/versions.json"), "utf8"),
) as Record<string, Entry>;

describe("versions.json's alsoCached", () => {
  const withExtras = Object.entries(versions).filter(([, e]) => e.alsoCached !== undefined);

  it("gives Traefik a second version for the upgrade scenario", () => {
    expect(versions.traefik?.alsoCached).toEqual(expect.arrayContaining([expect.any(String)]));
  });

  it.each(withExtras)(
    "%s: a list of plain versions, each newer than the pinned one, none twice",
    (_tool, entry) => {
      const extras = entry.alsoCached as string[];
      expect(Array.isArray(extras)).toBe(true);
      expect(new Set(extras).size).toBe(extras.length);
      for (const v of extras) {
        expect(v, `${v} is not like 3.6.13`).toMatch(/^\d+\.\d+\.\d+$/);
        expect(semver.gt(v, entry.version), `${v} is not newer than ${entry.version}`).toBe(true);
      }
    },
  );
});

describe("a version the scripts cannot take", () => {
  let cache: string;
  const run = (script: string, ...args: string[]) =>
    execa("bash", [join(repo, script), ...args], {
      reject: false,
      timeout: 30_000,
      env: { ELM_INFRA_CACHE: join(cache, "elm-infra"), XDG_CACHE_HOME: cache },
    });

  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), "elm-infra-versions-"));
  });
  afterAll(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  it.each(["traefik@3.6", "traefik@", "traefik@3.6.14;true"])(
    "install.sh --tool %s: exit 1 saying what a version looks like, nothing installed",
    async (arg) => {
      const r = await run("src/tools/install.sh", "--tool", arg);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`--tool ${arg}: the version must look like 3.6.14`);
      expect(await readdir(join(cache, "elm-infra"))).not.toContain("tools");
    },
  );

  it("images/base/build.sh traefik <version> not cached: exit 1 naming the install command", async () => {
    const r = await run("images/base/build.sh", "traefik", "3.6.99");
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("run bash src/tools/install.sh --tool traefik@3.6.99");
  });
});
