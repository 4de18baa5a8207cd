import { mapStrings } from "./map-strings.js";

/**
 * The one place secrets are masked. Every secret value elm-infra learns (the secrets file, the
 * environment, a registry password, a Terraform variable) is registered here, and everything
 * that leaves the process (output lines, step logs, Terraform events, error messages) passes
 * through `redact`. Short values are skipped: they would mask ordinary words and no real token
 * is that short.
 */
const secrets = new Set<string>();
let longestFirst: string[] = [];

export function registerSecret(value: string): void {
  if (value.length < 6) return;
  secrets.add(value);
  // JSON lines carry the escaped form: a secret with a quote or backslash would slip through.
  secrets.add(JSON.stringify(value).slice(1, -1));
  // Longest first, so a secret that contains another is not left half-masked.
  longestFirst = [...secrets].sort((a, b) => b.length - a.length);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of longestFirst) out = out.split(secret).join("[redacted]");
  return out;
}

/** Every string inside a value (an event, a parsed diagnostic), redacted; the shape is kept. */
export function redactDeep<T>(value: T): T {
  return longestFirst.length === 0 ? value : mapStrings(value, redact);
}

export function forgetSecrets(): void {
  secrets.clear();
  longestFirst = [];
}
