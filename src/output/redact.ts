/**
 * Every secret value loaded is registered here, and every line that leaves the process through
 * the output stream passes through `redact`. Short values are skipped: they would mask ordinary
 * words and no real token is that short.
 */
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length < 6) return;
  secrets.add(value);
  // JSON lines carry the escaped form: a secret with a quote or backslash would slip through.
  secrets.add(JSON.stringify(value).slice(1, -1));
}

export function redact(text: string): string {
  let out = text;
  // Longest first, so a secret that contains another is not left half-masked.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length))
    out = out.split(secret).join("[redacted]");
  return out;
}

export function forgetSecrets(): void {
  secrets.clear();
}
