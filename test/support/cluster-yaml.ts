/**
 * cluster.yaml as a user edits it: uncomment the block that starts with `# <key>:` (a commented
 * target, or one commented key), as an editor's "uncomment" does, so tests read the repository's
 * own file the way a user makes it live.
 */
export function uncommentBlock(yaml: string, key: string): string {
  const lines = yaml.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^\\s*# ${key}:`).test(l));
  if (start < 0) throw new Error(`no commented "${key}:" in the file`);
  const indent = /^(\s*)#/.exec(lines[start]!)![1]!;
  // The block: its first line, then the lines commented deeper than it ("#   " and more).
  const uncomment = (l: string) => l.replace(`${indent}# `, indent);
  lines[start] = uncomment(lines[start]!);
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith(`${indent}#   `); i++)
    lines[i] = uncomment(lines[i]!);
  return lines.join("\n");
}
