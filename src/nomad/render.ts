import Handlebars from "handlebars";
import { realpath } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { relative, sep } from "node:path";
import { readUserFile } from "../config/read-file.js";
import { FileRefusedError, UsageError } from "../errors.js";

/**
 * Escapes a value for the inside of an HCL double-quoted string: it can neither end the string
 * (quote, backslash, newline) nor start an interpolation or directive (`${`, `%{`).
 */
export function escapeHclString(value: string): string {
  return value
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
    .replace(/\$\{/g, () => "$${")
    .replace(/%\{/g, () => "%%{");
}

/** Every string in the variables is escaped for HCL; numbers and booleans pass as they are. */
function escapeAll(value: unknown): unknown {
  if (typeof value === "string") return escapeHclString(value);
  if (Array.isArray(value)) return value.map(escapeAll);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeAll(v)]));
  }
  if (typeof value === "number" && !Number.isFinite(value))
    throw new UsageError(`not a finite number: ${value}`);
  return value;
}

/** A Handlebars of our own: no HTML escaping (HCL is not HTML), no helpers beyond the built-ins. */
const hcl = Handlebars.create();

export class TemplateError extends UsageError {}

/**
 * Compiled templates by their source text: compiling is most of a render's cost (about 2 ms a
 * job), and the same few templates are rendered again and again. Keyed by the text itself, not
 * the file's path or time, so an edited template is never served stale. Bounded: the oldest
 * entry goes first.
 */
const compiled = new Map<string, HandlebarsTemplateDelegate>();
const maxCompiled = 32;

/** The compiled template for `source`: compiled once, then reused while it stays in the cache. */
export function compiledTemplate(source: string): HandlebarsTemplateDelegate {
  let template = compiled.get(source);
  if (!template) {
    template = hcl.compile(source, { strict: true, noEscape: true, knownHelpersOnly: true });
    if (compiled.size >= maxCompiled) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, template);
  }
  return template;
}

/**
 * Renders a job template strictly: a variable the template uses but the data lacks is an
 * error, and so is a template that cannot be parsed. Values are HCL-escaped, not HTML-escaped.
 */
export function renderTemplate(source: string, vars: object, name = "template"): string {
  try {
    return compiledTemplate(source)(escapeAll(vars), { allowProtoPropertiesByDefault: false });
  } catch (error) {
    throw templateError(source, name, error);
  }
}

/**
 * What went wrong in a template, where: `file:line: what`, then the line itself. Handlebars says
 * "Parse error on line N:" with its own excerpt, or ends its message with " - line:column".
 */
function templateError(source: string, name: string, error: unknown): TemplateError {
  const text = error instanceof Error ? error.message : String(error);
  const parse = /^Parse error on line (\d+):\n[^\n]*\n[^\n]*\n(.*)$/s.exec(text);
  const located = /^(.*) - (\d+):(\d+)$/s.exec(text.split("\n")[0] ?? "");
  const line = parse ? Number(parse[1]) : located ? Number(located[2]) : undefined;
  const what = parse
    ? `template syntax error: ${parse[2]!.split("\n")[0]!.replace(/^Expecting .*, got /, "unexpected ")}`
    : (located?.[1] ?? text.split("\n")[0]!);
  const shown = line !== undefined ? source.split("\n")[line - 1] : undefined;
  return new TemplateError(
    `cannot render ${name}${line !== undefined ? `:${line}` : ""}: ${what}` +
      (shown !== undefined ? `\n  ${line} | ${shown.slice(0, 200)}` : ""),
    parse
      ? "fix the template at that line: each {{ needs its }}, each {{#block}} its {{/block}}"
      : "every variable a job template uses must be one elm-infra provides; see the README's job template reference",
  );
}

/** The job templates elm-infra ships: the repository's own jobs/. */
export const shippedJobs = fileURLToPath(new URL("../../jobs/", import.meta.url));

/** Where a configuration's job templates may come from: its own jobs/ and the shipped ones. */
export function jobFolders(root: string): string[] {
  return [`${root}${sep}jobs`, shippedJobs];
}

const maxTemplateBytes = 256_000;

/**
 * Reads a job template named in cluster.yaml: a `.nomad.hbs` file inside one of `folders` (after
 * symlinks are followed), a regular file of at most 256 kB, that parses as Handlebars and has a
 * `job "..." {` block. Anything else is refused before it is rendered or printed.
 */
export async function readJobTemplate(file: string, folders: readonly string[]): Promise<string> {
  const hint =
    "a service's `job` in cluster.yaml names a .nomad.hbs template in the repository's jobs/ folder";
  const real = await realpath(file).catch(() => {
    throw new FileRefusedError(file, "no such job template", hint);
  });
  const inside = await Promise.all(
    folders.map(async (folder) => {
      const top = await realpath(folder).catch(() => undefined);
      const rel = top === undefined ? undefined : relative(top, real);
      return rel !== undefined && rel !== "" && !rel.startsWith("..") && !rel.startsWith(sep);
    }),
  );
  if (!inside.some(Boolean))
    throw new FileRefusedError(
      file,
      `is outside the jobs/ folder${real !== file ? ` (it leads to ${real})` : ""}; job templates are read only from there`,
      hint,
    );
  if (!real.endsWith(".nomad.hbs"))
    throw new FileRefusedError(
      file,
      "is not a job template (its name does not end in .nomad.hbs)",
      hint,
    );
  const source = await readUserFile(file, {
    what: "job template",
    maxBytes: maxTemplateBytes,
    hint,
  });
  try {
    hcl.parse(source);
  } catch (error) {
    throw templateError(source, file, error);
  }
  if (!/^\s*job\s+"[^"\n]*"\s*\{/m.test(source))
    throw new FileRefusedError(file, 'is not a job template: it has no job "<name>" { block', hint);
  return source;
}

/**
 * Renders a template file. With `within`, the file must be a job template in one of those folders
 * (see readJobTemplate); without, it is still read bounded, as a regular file only.
 */
export async function renderTemplateFile(
  file: string,
  vars: object,
  options: { within?: readonly string[] } = {},
): Promise<string> {
  const source = options.within
    ? await readJobTemplate(file, options.within)
    : await readUserFile(file, { what: "job template", maxBytes: maxTemplateBytes });
  return renderTemplate(source, vars, file);
}
