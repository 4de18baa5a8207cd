/**
 * An OpenSSH public key line (`ssh-ed25519 AAAA... comment`), as in a `.pub` file or
 * authorized_keys: what an operator gives for SSH access. Pure. A private key is refused with its
 * own reason, and no message ever repeats the text it was given.
 */

const keyTypes = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
];

/** Why `line` is not one OpenSSH public key line, or null when it is one. */
export function sshPublicKeyProblem(line: string): string | null {
  if (/PRIVATE KEY/.test(line))
    return "is a private key: give the public half (the .pub file's line), never the private key";
  const [type, blob] = line.trim().split(/ +/);
  if (line.trim().includes("\n") || !type || !keyTypes.includes(type) || !blob)
    return "must be one OpenSSH public key line: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa, then the key (what ssh-keygen writes to the .pub file)";
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blobType(blob) !== type)
    return `must be one OpenSSH public key line: its key is not a ${type} key in base64`;
  return null;
}

/** The key's identity without its comment: two lines with the same one are the same key. */
export function sshKeyMaterial(line: string): string {
  return line.trim().split(/ +/).slice(0, 2).join(" ");
}

/** The key type written inside the base64 blob (a length-prefixed string), or null. */
function blobType(blob: string): string | null {
  const bytes = Buffer.from(blob, "base64");
  if (bytes.length < 4) return null;
  const length = bytes.readUInt32BE(0);
  if (length > 64 || bytes.length < 4 + length) return null;
  return bytes.subarray(4, 4 + length).toString("latin1");
}

/**
 * Who may log in to the hosts over SSH, as authorized_keys' lines: the target's own key (bring-up's,
 * never left out) first, then each listed operator's, each key once. The site playbook makes
 * ssh.user's authorized_keys exactly this (an operator taken off the list loses access at the next
 * bring-up), and a new host has it from its first boot (OpenTofu's operator_ssh_keys).
 */
export function authorizedSshKeys(
  targetKey: string,
  target: { operators?: ReadonlyArray<{ name: string; sshKey?: string }> },
): string[] {
  const lines = [targetKey.trim()];
  for (const operator of target.operators ?? []) {
    if (operator.sshKey)
      lines.push(`${sshKeyMaterial(operator.sshKey)} elm-infra operator ${operator.name}`);
  }
  const seen = new Set<string>();
  return lines.filter((line) => {
    const key = sshKeyMaterial(line);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
