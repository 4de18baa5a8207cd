/** The local target's SSH key pair, made on this machine when it does not exist yet. */
import { access, mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import ssh2 from "ssh2";
import { readUserFile } from "../config/read-file.js";
import { FileRefusedError } from "../errors.js";

/**
 * A private key named in cluster.yaml (ssh.privateKey), read bounded (a regular file of at most
 * 64 kB: never a FIFO that blocks the connection); `refuse` makes the caller's error from why.
 */
export async function readPrivateKey(
  path: string,
  refuse: (why: string) => Error,
): Promise<string> {
  return readUserFile(path, { what: "SSH private key", maxBytes: 64_000 }).catch(
    (error: unknown) => {
      throw refuse(error instanceof FileRefusedError ? error.reason : String(error));
    },
  );
}

/** A known_hosts file, read bounded; empty when it does not exist yet. */
export async function readKnownHostsFile(path: string): Promise<string> {
  return readUserFile(path, { what: "known_hosts file", maxBytes: 4_000_000, ifMissing: "" });
}

/** Whether a key (or anything) is at `path`. */
export async function keyExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** A new ed25519 key pair in memory (OpenSSH formats); nothing is written. */
export function makeKeyPair(comment: string): { private: string; public: string } {
  return ssh2.utils.generateKeyPairSync("ed25519", { comment });
}

/** Writes an ed25519 key pair (`path` 0600 and `path.pub`) unless `path` exists; true if made. */
export async function ensureKeyPair(path: string, comment: string): Promise<boolean> {
  if (await keyExists(path)) return false;
  const pair = makeKeyPair(comment);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, pair.private, { mode: 0o600, flag: "wx" });
  await writeFile(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
  return true;
}
