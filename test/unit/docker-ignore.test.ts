import { describe, expect, it } from "vitest";
import { isIgnored, parseDockerignore } from "../../src/docker/dockerignore.js";

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
  ])("rules %j: %s ignored → %s", (rules, path, ignored) => {
    expect(isIgnored(path, parseDockerignore(rules))).toBe(ignored);
  });

  it("skips comments and blank lines and reads negations", () => {
    expect(parseDockerignore("# c\n\n !keep \nx/../y\n").map((r) => [r.pattern, r.negate])).toEqual(
      [
        ["keep", true],
        ["y", false],
      ],
    );
  });
});
