/**
 * Every relative link in README.md and docs/*.md leads somewhere: the file or folder exists, and a
 * `#anchor` names a heading of the page it points at (as GitHub makes heading anchors).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The anchors GitHub gives a page's headings (outside code blocks), duplicates numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inCode = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) inCode = !inCode;
    const heading = !inCode && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** The targets of a page's inline links `[text](target)`, outside code blocks and code spans. */
function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  let inCode = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) {
      inCode = !inCode;
      continue;
    }
    if (inCode) continue;
    for (const m of line.replace(/`[^`]*`/g, "").matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g))
      targets.push(m[1]!);
  }
  return targets;
}

/** What is wrong with one link of `page` (a path from the repository's root), or undefined. */
function brokenLink(page: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto:
  const [path = "", anchor] = target.split("#", 2);
  const file = path === "" ? join(repo, page) : resolve(repo, dirname(page), path);
  if (!existsSync(file)) return `${target}: ${relative(repo, file)} does not exist`;
  if (anchor === undefined) return undefined;
  if (!file.endsWith(".md")) return `${target}: an anchor into a file that is not Markdown`;
  return headingAnchors(readFileSync(file, "utf8")).has(anchor)
    ? undefined
    : `${target}: ${relative(repo, file)} has no heading #${anchor}`;
}

const pages = [
  "README.md",
  ...readdirSync(join(repo, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

describe("links in the README and docs/", () => {
  it.each(pages)("every relative link of %s resolves", (page) => {
    const broken = linkTargets(readFileSync(join(repo, page), "utf8"))
      .map((t) => brokenLink(page, t))
      .filter((b) => b !== undefined);
    expect(broken).toEqual([]);
  });

  it("makes anchors as GitHub does, and the checker finds a broken link", () => {
    expect([
      ...headingAnchors(
        "# Production (DigitalOcean)\n## `backup` and `restore`\n```\n# not a heading\n```\n## Tests\n## Tests\n",
      ),
    ]).toEqual(["production-digitalocean", "backup-and-restore", "tests", "tests-1"]);
    expect(linkTargets("see [a](docs/a.md#x), `[b](c.md)` and [d](https://e.org)")).toEqual([
      "docs/a.md#x",
      "https://e.org",
    ]);
    expect(brokenLink("README.md", "#no-such-heading")).toMatch(/has no heading/);
    expect(brokenLink("README.md", "docs/no-such-page.md")).toMatch(/does not exist/);
  });
});
