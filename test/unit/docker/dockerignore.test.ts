import { describe, expect, it } from "vitest";
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
