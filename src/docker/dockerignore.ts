/**
 * `.dockerignore` rules, matched the way the Docker CLI matches them: patterns are relative to the
 * context root, `*` and `?` stay within one path segment, `**` spans segments, a `!` line lets a
 * path back in, the last matching line wins, and a pattern that matches a folder matches
 * everything in it.
 */
export interface IgnoreRule {
  pattern: string;
  negate: boolean;
  regex: RegExp;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1).trim();
    const pattern = normalizePattern(line);
    if (pattern === "") continue;
    rules.push({ pattern, negate, regex: patternRegex(pattern) });
  }
  return rules;
}

function normalizePattern(pattern: string): string {
  const parts: string[] = [];
  for (const part of pattern.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

function patternRegex(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      // `**/` matches zero or more folders; a trailing `**` matches everything below.
      i++;
      if (pattern[i + 1] === "/") {
        i++;
        source += "(?:.*/)?";
      } else source += ".*";
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) source += escapeRegex(pattern[++i]!);
    else source += escapeRegex(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\]/.test(c) ? `\\${c}` : c;
}

/** Whether a context path (like `dist/data/x.json`) is left out of the build context. */
export function isIgnored(path: string, rules: readonly IgnoreRule[]): boolean {
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((c) => rule.regex.test(c))) ignored = !rule.negate;
  }
  return ignored;
}
