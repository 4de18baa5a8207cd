import { readdir, lstat } from "node:fs/promises";
import { join, posix, resolve } from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-fs";
import { readUserFile } from "../config/read-file.js";
import { OperationError, UsageError } from "../errors.js";
import { parseDockerignore, type IgnoreRules } from "./dockerignore.js";

/** A folder that goes into the build context, at `prefix` (the root when absent). */
export interface ContextSource {
  dir: string;
  prefix?: string;
}

/** The files of a build context, decided before any byte is sent. */
export interface ContextPlan {
  sources: { dir: string; prefix: string; entries: Set<string> }[];
  /** Context paths of every file that goes in, sorted. */
  files: string[];
}

/** Files the Docker CLI always sends, whatever .dockerignore says. */
const alwaysSent = new Set(["Dockerfile", ".dockerignore"]);

/**
 * Lists the files of the context: every source folder at its prefix, minus what the first
 * source's `.dockerignore` excludes. Later sources may not overwrite earlier files.
 */
export async function planContext(sources: readonly ContextSource[]): Promise<ContextPlan> {
  const first = sources[0];
  if (!first) throw new UsageError("a build context needs at least one folder");
  const ignoreText = await readUserFile(join(first.dir, ".dockerignore"), {
    what: ".dockerignore",
    maxBytes: 1_000_000,
    ifMissing: "",
  });
  const isIgnored = parseDockerignore(ignoreText);
  const owner = new Map<string, string>();
  const plan: ContextPlan = { sources: [], files: [] };
  for (const source of sources) {
    const dir = resolve(source.dir);
    const prefix = source.prefix ? posix.normalize(source.prefix).replace(/^\/+|\/+$/g, "") : "";
    const entries = new Set<string>();
    await walk(dir, "", prefix, isIgnored, entries);
    for (const rel of entries) {
      const path = prefix ? posix.join(prefix, rel) : rel;
      const stat = await lstat(join(dir, rel));
      if (stat.isDirectory()) continue;
      const earlier = owner.get(path);
      if (earlier) {
        throw new UsageError(
          `${path} is in both ${earlier} and ${dir}`,
          "rename one of them: a build context holds each path once",
        );
      }
      owner.set(path, dir);
      plan.files.push(path);
    }
    plan.sources.push({ dir, prefix, entries });
  }
  plan.files.sort();
  return plan;
}

/** Adds the entries under `rel` that are sent; returns whether anything under it is. */
async function walk(
  dir: string,
  rel: string,
  prefix: string,
  isIgnored: IgnoreRules,
  out: Set<string>,
): Promise<boolean> {
  let names: string[];
  try {
    names = (await readdir(join(dir, rel))).sort();
  } catch (error) {
    throw new OperationError(`cannot read ${join(dir, rel)}: ${(error as Error).message}`);
  }
  let any = false;
  for (const name of names) {
    const childRel = rel ? posix.join(rel, name) : name;
    const contextPath = prefix ? posix.join(prefix, childRel) : childRel;
    const stat = await lstat(join(dir, childRel));
    if (stat.isSocket() || stat.isFIFO()) continue;
    if (stat.isDirectory()) {
      // An excluded folder may hold a file that a `!` rule lets back in, so look inside it.
      const inner = await walk(dir, childRel, prefix, isIgnored, out);
      if (inner || !isIgnored(contextPath)) {
        out.add(childRel);
        any = true;
      }
    } else if (alwaysSent.has(contextPath) || !isIgnored(contextPath)) {
      out.add(childRel);
      any = true;
    }
  }
  return any;
}

/**
 * Streams the planned context as one tar. Owners are reset to root and modes to 0644/0755, so
 * the image does not depend on who built it and an unprivileged server can read its files.
 */
export function packContext(plan: ContextPlan): Readable {
  const packs = plan.sources.filter((s) => s.entries.size > 0);
  const packSource = (index: number, into?: tar.Pack): tar.Pack => {
    const source = packs[index]!;
    const last = index === packs.length - 1;
    const options: tar.PackOptions = {
      entries: [...source.entries],
      // `entries` names every file and folder; the walk must not add folders' children again.
      ignore: () => true,
      finalize: last,
      map: (header) => {
        const executable = header.type === "directory" || (header.mode & 0o111) !== 0;
        return Object.assign(header, {
          name: source.prefix ? posix.join(source.prefix, header.name) : header.name,
          uid: 0,
          gid: 0,
          uname: "root",
          gname: "root",
          mode: executable ? 0o755 : 0o644,
        });
      },
    };
    if (into) options.pack = into;
    if (!last) options.finish = (pack) => void packSource(index + 1, pack);
    return tar.pack(source.dir, options);
  };
  if (packs.length === 0) throw new UsageError("the build context is empty");
  return packSource(0) as unknown as Readable;
}
