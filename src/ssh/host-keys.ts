import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  fingerprintOf,
  formatKnownHostLine,
  knownHostName,
  parseKnownHosts,
  presentedHostKey,
  verifyHostKey,
  withoutHosts,
} from "./known-hosts.js";
import { HostKeyMismatchError } from "./errors.js";
import { readKnownHostsFile } from "./keys.js";

export type HostKeyPolicy = "pin-on-first-contact" | "require-pinned";

// Appends to one file are serialized, so two first contacts in this process do not interleave.
const pinQueues = new Map<string, Promise<unknown>>();

/**
 * Checks a host's key against the known_hosts file: a pinned key passes, a different key throws
 * HostKeyMismatchError, and an unknown host is pinned (or refused under "require-pinned").
 */
export async function checkHostKey(options: {
  knownHostsPath: string;
  host: string;
  port: number;
  keyBlob: Buffer;
  policy: HostKeyPolicy;
}): Promise<void> {
  const name = knownHostName(options.host, options.port);
  const key = presentedHostKey(options.keyBlob);
  const task = (pinQueues.get(options.knownHostsPath) ?? Promise.resolve()).then(async () => {
    const text = await readKnownHostsFile(options.knownHostsPath);
    const verdict = verifyHostKey(parseKnownHosts(text), name, key);
    switch (verdict.kind) {
      case "match":
        return;
      case "revoked":
        throw new HostKeyMismatchError(
          name,
          options.knownHostsPath,
          fingerprintOf(key.keyBase64),
          [],
          "revoked",
        );
      case "mismatch":
        throw new HostKeyMismatchError(
          name,
          options.knownHostsPath,
          fingerprintOf(key.keyBase64),
          verdict.pinned.map((e) => `${fingerprintOf(e.keyBase64)} (line ${e.line})`),
        );
      case "unknown":
        if (options.policy === "require-pinned") {
          throw new HostKeyMismatchError(
            name,
            options.knownHostsPath,
            fingerprintOf(key.keyBase64),
            [],
            "not-pinned",
          );
        }
        await mkdir(dirname(options.knownHostsPath), { recursive: true, mode: 0o700 });
        await appendFile(options.knownHostsPath, formatKnownHostLine(name, key), { mode: 0o600 });
    }
  });
  pinQueues.set(
    options.knownHostsPath,
    task.catch(() => undefined),
  );
  await task;
}

/**
 * Removes the pinned keys of hosts that no longer exist (destroy) or were just made anew (a
 * replaced host's new key is then pinned on first contact). Hosts are `host` or `[host]:port`.
 */
export async function forgetHostKeys(
  knownHostsPath: string,
  names: readonly string[],
): Promise<void> {
  const task = (pinQueues.get(knownHostsPath) ?? Promise.resolve()).then(async () => {
    const text = await readKnownHostsFile(knownHostsPath);
    if (text === "") return;
    const kept = withoutHosts(text, names);
    if (kept !== text) await writeFile(knownHostsPath, kept, { mode: 0o600 });
  });
  pinQueues.set(
    knownHostsPath,
    task.catch(() => undefined),
  );
  await task;
}
