/**
 * age (https://age-encryption.org), the Debian package's `age` program: the cluster secrets kept
 * in the target's store are encrypted with it to every operator's recipient. The identity reaches
 * age on its standard input (`-i -`), never in a file or an argument; the ciphertext (not secret)
 * in a temporary file, which age needs when standard input carries the identity.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
