import { EVENT_ID, load, parseEvents, YAMLException, type Event } from "js-yaml";
import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "../errors.js";
import { quote } from "../output/quote.js";
import { clusterSchema, secretsSchema, type Cluster, type Secrets } from "./schema.js";

/**
 * What a configuration file may hold. A real cluster.yaml has a few hundred nodes; the limits
 * refuse a file built to exhaust memory (a "billion laughs" of nested aliases expands to
 * billions of nodes from a few lines) before anything is built from it.
 */
export const yamlLimits = { maxBytes: 1_000_000, maxNodes: 100_000 };

/**
 * Counts the nodes a YAML text expands to, an alias counting as the whole node it names, from
 * the parser's event stream (linear in the text; nothing is constructed). Stops counting once
 * past `limit`.
 */
export function expandedNodeCount(text: string, events: readonly Event[], limit: number): number {
  const anchored = new Map<string, number>();
  const open: { size: number; anchor: string | undefined }[] = [{ size: 0, anchor: undefined }];
  const anchorOf = (e: { anchorStart: number; anchorEnd: number }) =>
    e.anchorStart === -1 ? undefined : text.slice(e.anchorStart, e.anchorEnd);
  const add = (size: number) => {
    const top = open[open.length - 1]!;
    top.size = Math.min(top.size + size, limit + 1);
  };
  for (const event of events) {
    if (event.type === EVENT_ID.DOCUMENT) open.push({ size: 0, anchor: undefined });
    else if (event.type === EVENT_ID.SEQUENCE || event.type === EVENT_ID.MAPPING)
      open.push({ size: 1, anchor: anchorOf(event) });
    else if (event.type === EVENT_ID.SCALAR) {
      const anchor = anchorOf(event);
      if (anchor !== undefined) anchored.set(anchor, 1);
      add(1);
    } else if (event.type === EVENT_ID.ALIAS) add(anchored.get(anchorOf(event) ?? "") ?? 1);
    else if (event.type === EVENT_ID.POP && open.length > 1) {
      const closed = open.pop()!;
      if (closed.anchor !== undefined) anchored.set(closed.anchor, closed.size);
      add(closed.size);
    }
    if (open[open.length - 1]!.size > limit) return limit + 1;
  }
  return open[0]!.size;
}

/**
 * Parses YAML text defensively: a file too large, or one whose aliases expand past
 * `yamlLimits.maxNodes`, is refused before it is expanded. A syntax error becomes a problem with
 * its line and column (1-based).
 */
export function parseYaml(text: string, file: string): unknown {
  const refuse = (message: string, hint: string): never => {
    throw new ConfigError([{ file, path: "", message }], hint);
  };
  if (text.length > yamlLimits.maxBytes)
    refuse(
      `is larger than ${yamlLimits.maxBytes / 1_000_000} MB; a configuration file is refused past that`,
      "point --config at the cluster.yaml you meant",
    );
  try {
    const events = parseEvents(text, { filename: file });
    if (expandedNodeCount(text, events, yamlLimits.maxNodes) > yamlLimits.maxNodes)
      refuse(
        `its aliases (*name) expand to more than ${yamlLimits.maxNodes} nodes; a YAML file built to expand exponentially is refused before it is read`,
        "write the repeated parts out, or use fewer nested aliases",
      );
    return load(text, { filename: file });
  } catch (error) {
    if (error instanceof YAMLException) {
      const mark = (error as YAMLException & { mark?: { line: number; column: number } }).mark;
      const e = error as unknown as { line?: number; column?: number; reason?: string };
      const line = (mark?.line ?? e.line ?? 0) + 1;
      const column = (mark?.column ?? e.column ?? 0) + 1;
      throw new ConfigError(
        [
          {
            file,
            path: "",
            line,
            column,
            message: `YAML syntax error: ${e.reason ?? error.message}`,
          },
        ],
        "fix the YAML syntax at that line and run again",
      );
    }
    throw error;
  }
}

/** A missing field says so, instead of zod's "expected string, received undefined". */
const requiredField = (issue: { code?: string; input?: unknown }) =>
  issue.code === "invalid_type" && issue.input === undefined ? "is required" : undefined;

/**
 * A field's dotted path for a message. Names come from the user's file: one that quoting would
 * change (control or invisible characters, quotes, backslashes, past the length limit) is quoted.
 */
export function fieldPath(segments: readonly PropertyKey[]): string {
  return segments
    .map((s) => {
      const name = String(s);
      const quoted = quote(name);
      return name !== "" && quoted === `"${name}"` ? name : quoted;
    })
    .join(".");
}

function problemsFrom(error: z.ZodError, file: string): ConfigProblem[] {
  return error.issues.flatMap((issue): ConfigProblem[] => {
    const path = issue.path;
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        file,
        path: fieldPath([...path, key]),
        message: "unknown field",
      }));
    }
    if (issue.code === "invalid_key") {
      return [
        {
          file,
          path: fieldPath(path),
          message: `invalid name: ${issue.issues[0]?.message ?? issue.message}`,
        },
      ];
    }
    return [{ file, path: fieldPath(path), message: issue.message }];
  });
}

function entriesOf(value: unknown): [string, unknown][] {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? Object.entries(value)
    : [];
}

/**
 * Checks across fields (a domain for a service that does not exist, a default target that does
 * not exist). They read the raw document so they are reported together with the schema's problems.
 */
function crossFieldProblems(doc: unknown, file: string): ConfigProblem[] {
  const root = Object.fromEntries(entriesOf(doc));
  const services = entriesOf(root.services);
  const serviceNames = services.map(([name]) => name);
  const targetNames = entriesOf(root.targets).map(([name]) => name);
  const problems: ConfigProblem[] = [];
  // A map's `__proto__` key is a name no object can hold: the schema would drop it unseen.
  const reserved = (path: string[], map: unknown) => {
    if (map !== null && typeof map === "object" && Object.hasOwn(map, "__proto__"))
      problems.push({
        file,
        path: fieldPath([...path, "__proto__"]),
        message: "is not a name elm-infra accepts",
      });
  };
  reserved(["targets"], root.targets);
  reserved(["services"], root.services);
  for (const [name, target] of entriesOf(root.targets)) {
    const domains = Object.fromEntries(entriesOf(target)).domains;
    reserved(["targets", name, "domains"], domains);
    for (const [service] of entriesOf(domains)) {
      if (!serviceNames.includes(service)) {
        problems.push({
          file,
          path: fieldPath(["targets", name, "domains", service]),
          message: `unknown service; known services: ${serviceNames.join(", ")}`,
        });
      }
    }
  }
  if (
    typeof root.defaultTarget === "string" &&
    targetNames.length > 0 &&
    !targetNames.includes(root.defaultTarget)
  ) {
    problems.push({
      file,
      path: "defaultTarget",
      message: `unknown target; known targets: ${targetNames.join(", ")}`,
    });
  }
  for (const [name, service] of services) {
    if (!/^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$/.test(name)) {
      problems.push({
        file,
        path: fieldPath(["services", name]),
        message: "service names must be lower-case letters, digits, '.' or '-'",
      });
    }
    const hostnames = Object.fromEntries(entriesOf(service)).hostnames;
    const seen = new Set<unknown>();
    for (const host of Array.isArray(hostnames) ? hostnames : []) {
      if (seen.has(host))
        problems.push({
          file,
          path: fieldPath(["services", name, "hostnames"]),
          message: `${quote(host)} is listed twice`,
        });
      seen.add(host);
    }
  }
  return problems;
}

/** Pure: validates a cluster document and collects every problem into one ConfigError. */
export function parseCluster(doc: unknown, file: string): Cluster {
  const result = clusterSchema.safeParse(doc ?? {}, { error: requiredField });
  const problems = [
    ...(result.success ? [] : problemsFrom(result.error, file)),
    ...crossFieldProblems(doc, file),
  ];
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  return result.data;
}

/** Pure: validates a secrets document. Messages name fields, never values. */
export function parseSecrets(doc: unknown, file: string): Secrets {
  const result = secretsSchema.safeParse(doc ?? {}, { error: requiredField });
  if (!result.success) throw new ConfigError(problemsFrom(result.error, file));
  return result.data;
}
