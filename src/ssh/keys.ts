/** The local target's SSH key pair, made on this machine when it does not exist yet. */
import { access, mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import ssh2 from "ssh2";

/** Writes an ed25519 key pair (`path` 0600 and `path.pub`) unless `path` exists; true if made. */
export async function ensureKeyPair(path: string, comment: string): Promise<boolean> {
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) return false;
  const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, pair.private, { mode: 0o600, flag: "wx" });
  await writeFile(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
  return true;
}
