/**
 * Changes to cluster.yaml that elm-infra itself makes (scale records the new host counts). The
 * file stays the user's: only the changed values' own characters are replaced, so comments, flow
 * maps, quoting and every other target are byte for byte what they were. The `yaml` package's
 * Document API finds where each value is in the text; the text is then spliced, never re-printed.
 */
import { rename, stat, writeFile } from "node:fs/promises";
import { isScalar, parseDocument } from "yaml";
import { ConfigError } from "../errors.js";
import { yamlLimits } from "./parse.js";
import { readUserFile } from "./read-file.js";

export interface CountsToWrite {
  managers?: number;
  workers?: number;
}

/** Pure: `text` with targets.<target>.managers/workers set to `counts` (those given). */
export function setTargetCounts(
  text: string,
  file: string,
  target: string,
  counts: CountsToWrite,
): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError([{ file, path: "", message: doc.errors[0]!.message }]);
  }
  const edits: Array<{ start: number; end: number; value: string }> = [];
  for (const field of ["managers", "workers"] as const) {
    const wanted = counts[field];
    if (wanted === undefined) continue;
    const node = doc.getIn(["targets", target, field], true);
    if (!isScalar(node) || !node.range) {
      throw new ConfigError(
        [{ file, path: `targets.${target}.${field}`, message: "is not a number to update" }],
        `set targets.${target}.${field} to ${wanted} by hand`,
      );
    }
    edits.push({ start: node.range[0], end: node.range[1], value: String(wanted) });
  }
  // From the end, so that earlier offsets stay valid.
  return edits
    .sort((a, b) => b.start - a.start)
    .reduce((t, e) => t.slice(0, e.start) + e.value + t.slice(e.end), text);
}

/** Records the counts in the file (written whole beside it, then renamed; mode kept). */
export async function writeTargetCounts(
  file: string,
  target: string,
  counts: CountsToWrite,
): Promise<void> {
  const text = await readUserFile(file, {
    what: "configuration file",
    maxBytes: yamlLimits.maxBytes,
  });
  const next = setTargetCounts(text, file, target, counts);
  if (next === text) return;
  const { mode } = await stat(file);
  await writeFile(`${file}.partial`, next, { mode: mode & 0o777 });
  await rename(`${file}.partial`, file);
}
