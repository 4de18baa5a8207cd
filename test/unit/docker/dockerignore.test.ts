import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planContext } from "../../../src/docker/context.js";
import { parseDockerignore } from "../../../src/docker/dockerignore.js";

describe(".dockerignore matching", () => {
  const packageRules = "# only the binary\n*\n!Dockerfile\n!dist/server\n";
  const siteRules = "*\n!Dockerfile\n!serve.py\n!dist\ndist/**/.git\n**/*.map\n";

  it.each([
    [packageRules, "Dockerfile", false],
    [packageRules, "dist/server", false],
    [packageRules, "dist/data/search.json", true],
    [packageRules, "dist", true],
    [packageRules, "README.md", true],
    [siteRules, "dist/index.html", false],
    [siteRules, "dist/a/b/c.html", false],
    [siteRules, "dist/.git/config", true],
    [siteRules, "dist/sub/.git/HEAD", true],
    [siteRules, "dist/app.js.map", true],
    [siteRules, "serve.py", false],
    [siteRules, "notes.txt", true],
    ["", "anything/at/all", false],
    ["./build/\n", "build/x", true],
    ["?.txt", "a.txt", true],
    ["?.txt", "ab.txt", false],
    ["a\\*b", "a*b", true],
    ["a\\*b", "axb", false],
    ["*.txt", "sub/a.txt", false],
    ["build", "build/deep/x", true],
  ])("rules %j: %s ignored → %s", (rules, path, ignored) => {
    expect(parseDockerignore(rules)(path)).toBe(ignored);
  });

  it("skips comments and blank lines, reads negations and normalizes paths", () => {
    const isIgnored = parseDockerignore("*\n# c\n\n !keep \nx/../y\n");
    expect(isIgnored("keep")).toBe(false);
    expect(isIgnored("y")).toBe(true);
    expect(parseDockerignore("# notes.txt\n\n")("notes.txt")).toBe(false);
  });
});

describe("the build context's .dockerignore is read bounded, as every file elm-infra reads", () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "elm-infra-dockerignore-"));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  /** A context folder with a Dockerfile and a notes.txt, its .dockerignore made by `make`. */
  async function context(name: string, make?: (file: string) => unknown): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir);
    await writeFile(join(dir, "Dockerfile"), "FROM scratch\n");
    await writeFile(join(dir, "notes.txt"), "notes\n");
    await make?.(join(dir, ".dockerignore"));
    return dir;
  }

  it.each([
    [
      "a FIFO (must not block)",
      (f: string) => execFileSync("mkfifo", [f]),
      /\.dockerignore: is a pipe \(FIFO\), not a regular file; a \.dockerignore must be a file/,
    ],
    [
      "a directory",
      (f: string) => mkdir(f),
      /\.dockerignore: is a directory, not a regular file; a \.dockerignore must be a file/,
    ],
    [
      "of 4 GB (sparse)",
      (f: string) => execFileSync("truncate", ["-s", "4G", f]),
      /\.dockerignore: is larger than 1 MB; a \.dockerignore is refused past that/,
    ],
  ])(".dockerignore %s: refused unread, exit 2", async (kind, make, message) => {
    const dir = await context(kind.replace(/\W+/g, "-"), make);
    const refused = planContext([{ dir }]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(await refused).toMatchObject({ exitCode: 2, message: expect.stringMatching(message) });
  });

  it("a context without a .dockerignore sends every file; one that ignores *.txt leaves them out", async () => {
    expect((await planContext([{ dir: await context("none") }])).files).toEqual([
      "Dockerfile",
      "notes.txt",
    ]);
    const rules = (f: string) => writeFile(f, "*.txt\n");
    expect((await planContext([{ dir: await context("rules", rules) }])).files).toEqual([
      ".dockerignore",
      "Dockerfile",
    ]);
  });
});
