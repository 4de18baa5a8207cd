/**
 * The `age` program (https://age-encryption.org; Debian's `age`) decrypting a stream: the
 * ciphertext goes in on its stdin, the plaintext comes out of its stdout for the caller to pass
 * on (to Nomad's or Consul's restore), so no plaintext byte is ever written to a file. The
 * identity reaches it through a pipe of its own, never an argument, the environment or a file:
 * it is the first line of the input, which bash's `read` takes (a byte at a time from a pipe,
 * so the rest stays for age) and hands to age through a process substitution. Node's extra
 * stdio "pipes" are sockets, which age cannot open by their /dev/fd name.
 */
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { OperationError } from "../errors.js";

export interface AgeDecryption {
  /** The plaintext, as age writes it. */
  plaintext: Readable;
  /** Settles when age has ended: rejects when it failed (a wrong identity, a truncated file). */
  done: Promise<void>;
}

/** `printf` is bash's own: the identity is never an argument of a process. */
const readIdentityThenDecrypt =
  'IFS= read -r identity && exec age --decrypt --identity <(printf "%s\\n" "$identity")';

/** Decrypts `ciphertext` with `identity` (`AGE-SECRET-KEY-1...`) as it streams. */
export function decryptAgeStream(
  identity: string,
  ciphertext: Readable,
  o: { what: string; signal?: AbortSignal },
): AgeDecryption {
  const age = spawn("bash", ["-c", readIdentityThenDecrypt], {
    stdio: ["pipe", "pipe", "pipe"],
    ...(o.signal ? { signal: o.signal } : {}),
  });
  age.stdin.write(`${identity}\n`);
  ciphertext.pipe(age.stdin);
  // age may stop reading early (a wrong identity): the rest of the input has nowhere to go.
  age.stdin.on("error", () => undefined);
  let stderr = "";
  age.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  const done = new Promise<void>((resolve, reject) => {
    ciphertext.on("error", (error) =>
      reject(new OperationError(`reading ${o.what} failed: ${error.message}`)),
    );
    age.on("error", (error) =>
      reject(
        new OperationError(
          `age could not decrypt ${o.what}: ${error.message}`,
          "install age (Debian: apt-get install age)",
        ),
      ),
    );
    age.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new OperationError(
              `age could not decrypt ${o.what} (exit ${code}): ${stderr.trim().slice(0, 300)}`,
              "the identity is the secrets file's clusterSnapshotIdentity: check that it is the one the snapshots were encrypted to",
            ),
          ),
    );
  });
  return { plaintext: age.stdout, done };
}
