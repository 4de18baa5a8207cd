/**
 * Every secret value loaded is registered here, and every line that leaves the process through
 * the output stream passes through `redact`. Short values are skipped: they would mask ordinary
 * words and no real token is that short.
 */
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length >= 6) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("[redacted]");
  return out;
}

export function forgetSecrets(): void {
  secrets.clear();
}
