import Handlebars from "handlebars";
import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.js";

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
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new TemplateError(
      `cannot render ${name}: ${message}`,
      "every variable a job template uses must be one elm-infra provides; see the README's job template reference",
    );
  }
}

export async function renderTemplateFile(file: string, vars: object): Promise<string> {
  let source: string;
  try {
    source = await readFile(file, "utf8");
  } catch {
    throw new UsageError(
      `cannot read job template ${file}`,
      "check the service's `job` path in cluster.yaml",
    );
  }
  return renderTemplate(source, vars, file);
}
