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
        [{ file, path: "", line, column, message: `YAML syntax error: ${e.reason ?? error.message}` }],
        "fix the YAML syntax at that line and run again",
      );
    }
    throw error;
  }
}

function problemsFrom(error: z.ZodError, file: string): ConfigProblem[] {
  return error.issues.map((issue) => ({
    file,
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
}

/** Pure: validates a cluster document and collects every problem into one ConfigError. */
export function parseCluster(doc: unknown, file: string): Cluster {
  const result = clusterSchema.safeParse(doc ?? {});
  if (!result.success) throw new ConfigError(problemsFrom(result.error, file));
  const cluster = result.data;
  const problems: ConfigProblem[] = [];
  for (const [name, target] of Object.entries(cluster.targets)) {
    for (const service of Object.keys(target.domains)) {
      if (!cluster.services[service]) {
        problems.push({
          file,
          path: `targets.${name}.domains.${service}`,
          message: `unknown service; known services: ${Object.keys(cluster.services).join(", ")}`,
        });
      }
    }
  }
  for (const [name, service] of Object.entries(cluster.services)) {
    if (!/^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$/.test(name)) {
      problems.push({ file, path: `services.${name}`, message: "service names must be lower-case letters, digits, '.' or '-'" });
    }
    const seen = new Set<string>();
    for (const host of service.hostnames) {
      if (seen.has(host)) problems.push({ file, path: `services.${name}.hostnames`, message: `${host} is listed twice` });
      seen.add(host);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return cluster;
}

/** Pure: validates a secrets document. Messages name fields, never values. */
export function parseSecrets(doc: unknown, file: string): Secrets {
  const result = secretsSchema.safeParse(doc ?? {});
  if (!result.success) throw new ConfigError(problemsFrom(result.error, file));
  return result.data;
}
