import { load, YAMLException } from "js-yaml";
import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "../errors.js";
import { clusterSchema, secretsSchema, type Cluster, type Secrets } from "./schema.js";

/** Parses YAML text; a syntax error becomes a problem with its line and column (1-based). */
export function parseYaml(text: string, file: string): unknown {
  try {
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

function problemsFrom(error: z.ZodError, file: string): ConfigProblem[] {
  return error.issues.flatMap((issue): ConfigProblem[] => {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        file,
        path: [...path, key].join("."),
        message: "unknown field",
      }));
    }
    if (issue.code === "invalid_key") {
      return [
        {
          file,
          path: path.join("."),
          message: `invalid name: ${issue.issues[0]?.message ?? issue.message}`,
        },
      ];
    }
    return [{ file, path: path.join("."), message: issue.message }];
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
  for (const [name, target] of entriesOf(root.targets)) {
    const domains = Object.fromEntries(entriesOf(target)).domains;
    for (const [service] of entriesOf(domains)) {
      if (!serviceNames.includes(service)) {
        problems.push({
          file,
          path: `targets.${name}.domains.${service}`,
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
        path: `services.${name}`,
        message: "service names must be lower-case letters, digits, '.' or '-'",
      });
    }
    const hostnames = Object.fromEntries(entriesOf(service)).hostnames;
    const seen = new Set<unknown>();
    for (const host of Array.isArray(hostnames) ? hostnames : []) {
      if (seen.has(host))
        problems.push({
          file,
          path: `services.${name}.hostnames`,
          message: `${String(host)} is listed twice`,
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
