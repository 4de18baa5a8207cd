/**
 * known_hosts in OpenSSH's format, as pure functions: parse the file, decide whether a presented
 * host key matches what is pinned, and format the line that pins a new host. The I/O (reading and
 * appending the file) lives in host-keys.ts.
 */
import { createHash, createHmac } from "node:crypto";

export interface KnownHostEntry {
  /** `@revoked` or `@cert-authority` when the line starts with one. */
  marker?: "revoked" | "cert-authority";
  /** The host field as written: `host`, `[host]:port`, comma lists, wildcards or `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** Base64 of the SSH wire-format public key blob. */
  keyBase64: string;
  /** 1-based line in the file, for messages. */
  line: number;
}

export type HostKeyVerdict =
  | { kind: "match"; entry: KnownHostEntry }
  | { kind: "unknown" }
  | { kind: "mismatch"; pinned: KnownHostEntry[] }
  | { kind: "revoked"; entry: KnownHostEntry };

export interface PresentedHostKey {
  keyType: string;
  keyBase64: string;
}

/** Parses a known_hosts file; blank lines, comments and lines with too few fields are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry["marker"];
    if (fields[0] === "@revoked" || fields[0] === "@cert-authority") {
      marker = fields[0] === "@revoked" ? "revoked" : "cert-authority";
      fields.shift();
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) return;
    entries.push({ ...(marker ? { marker } : {}), hosts, keyType, keyBase64, line: index + 1 });
  });
  return entries;
}

/** The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Matches one host field (comma list, `*`/`?` wildcards, `!` negations, hashed) against a name. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|1|")) return hashedHostMatches(field, name);
  let matched = false;
  for (const pattern of field.split(",")) {
    const negated = pattern.startsWith("!");
    const glob = negated ? pattern.slice(1) : pattern;
    if (globMatches(glob.toLowerCase(), name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function hashedHostMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split("|");
  if (!salt || !hash) return false;
  const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
  return digest === hash;
}

function globMatches(glob: string, name: string): boolean {
  const pattern = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${pattern}$`).test(name);
}

/**
 * Decides what a presented key means for a host: a pinned key matches, a revoked key is refused,
 * keys pinned for the host that all differ are a mismatch, and no line for the host is unknown.
 * Certificate-authority lines are not host keys and are ignored.
 */
export function verifyHostKey(
  entries: KnownHostEntry[],
  name: string,
  key: PresentedHostKey,
): HostKeyVerdict {
  const forHost = entries.filter(
    (e) => e.marker !== "cert-authority" && hostFieldMatches(e.hosts, name),
  );
  const revoked = forHost.find((e) => e.marker === "revoked" && e.keyBase64 === key.keyBase64);
  if (revoked) return { kind: "revoked", entry: revoked };
  const pinned = forHost.filter((e) => e.marker === undefined);
  const match = pinned.find((e) => e.keyType === key.keyType && e.keyBase64 === key.keyBase64);
  if (match) return { kind: "match", entry: match };
  return pinned.length > 0 ? { kind: "mismatch", pinned } : { kind: "unknown" };
}

/** The line that pins a host's key, newline included. */
export function formatKnownHostLine(name: string, key: PresentedHostKey): string {
  return `${name} ${key.keyType} ${key.keyBase64}\n`;
}

/** Reads the key type from an SSH wire-format public key blob (a length-prefixed string first). */
export function presentedHostKey(blob: Buffer): PresentedHostKey {
  if (blob.length < 4) throw new Error("host key blob is too short");
  const length = blob.readUInt32BE(0);
  if (length <= 0 || 4 + length > blob.length)
    throw new Error("host key blob has a bad type field");
  return {
    keyType: blob.subarray(4, 4 + length).toString("ascii"),
    keyBase64: blob.toString("base64"),
  };
}

/** OpenSSH's fingerprint form: `SHA256:` and unpadded base64 of the key blob's digest. */
export function fingerprintOf(keyBase64: string): string {
  const digest = createHash("sha256").update(Buffer.from(keyBase64, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/**
 * The file without the lines that pin exactly these hosts (by name, not by wildcard or hash: a
 * line that also names other hosts or patterns is kept); every other line as it was.
 */
export function withoutHosts(text: string, names: readonly string[]): string {
  const lines = text.split(/\r?\n/);
  const kept = lines.filter((raw) => {
    const fields = raw.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]!.startsWith("@") || fields[0]!.startsWith("#")) return true;
    const field = fields[0]!.toLowerCase().split(",");
    return !field.every((f) => names.some((n) => n.toLowerCase() === f));
  });
  return kept.join("\n");
}
