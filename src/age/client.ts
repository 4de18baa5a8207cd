/**
 * age (https://age-encryption.org), the Debian package's `age` program: the cluster secrets kept
 * in the target's store are encrypted with it to every operator's recipient. The identity reaches
 * age on its standard input (`-i -`), never in a file or an argument; the ciphertext (not secret)
 * in a temporary file, which age needs when standard input carries the identity. A snapshot is
 * decrypted as a stream instead (decryptAgeStream, below).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { execa } from "execa";
import { OperationError } from "../errors.js";

/** age refused the identity: it matches none of the recipients the text was encrypted to. */
export class AgeIdentityRefused extends Error {}

const limits = { timeout: 30_000, maxBuffer: 10_000_000 } as const;

/** `plaintext` encrypted to every recipient (`age1...`), ASCII-armored. */
export async function encryptToRecipients(
  plaintext: string,
  recipients: readonly string[],
): Promise<string> {
  if (recipients.length === 0) throw new Error("encryptToRecipients: no recipient");
  const r = await execa("age", ["--encrypt", "--armor", ...recipients.flatMap((x) => ["-r", x])], {
    ...limits,
    input: plaintext,
    reject: false,
  });
  if (r.exitCode !== 0) throw ageFailure("encrypt", String(r.stderr));
  return String(r.stdout);
}

/** The plaintext of `ciphertext` read with `identity` (the identity file's text); throws AgeIdentityRefused. */
export async function decryptWithIdentity(ciphertext: string, identity: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "elm-infra-age-"));
  try {
    const file = join(dir, "secrets.age");
    await writeFile(file, ciphertext, { mode: 0o600 });
    const r = await execa("age", ["--decrypt", "-i", "-", file], {
      ...limits,
      input: identity.endsWith("\n") ? identity : `${identity}\n`,
      reject: false,
    });
    if (r.exitCode === 0) return String(r.stdout);
    const said = String(r.stderr);
    // age's words: "no identity matched any of the recipients", or an identity it cannot read
    if (/no identity matched|reading "-"/.test(said)) throw new AgeIdentityRefused(firstLine(said));
    throw ageFailure("decrypt", said);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const firstLine = (said: string) => said.split("\n")[0]?.replace(/^age: (error: )?/, "") ?? "";

function ageFailure(what: string, said: string): OperationError {
  return new OperationError(
    `age could not ${what} the cluster secrets: ${firstLine(said)}`,
    "check that age is installed (src/tools/install.sh --only packages) and the store's object is intact",
  );
}

/*
 * Decrypting a stream (a cluster snapshot being restored): the
 * ciphertext goes in on its stdin, the plaintext comes out of its stdout for the caller to pass
 * on (to Nomad's or Consul's restore), so no plaintext byte is ever written to a file. The
 * identity reaches it through a pipe of its own, never an argument, the environment or a file:
 * it is the first line of the input, which bash's `read` takes (a byte at a time from a pipe,
 * so the rest stays for age) and hands to age through a process substitution. Node's extra
 * stdio "pipes" are sockets, which age cannot open by their /dev/fd name.
 */
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
