/**
 * Who may log in to the hosts over SSH: the target's own key (bring-up's, never left out) and
 * every listed operator's. Pure: the site playbook makes ssh.user's authorized_keys exactly this,
 * so an operator taken off the list loses access at the next bring-up.
 */
import type { Target } from "../config/schema.js";
import { sshKeyMaterial } from "../config/ssh-public-key.js";

/** authorized_keys' lines: the target's key first, then each operator's, each key once. */
export function authorizedSshKeys(targetKey: string, target: Pick<Target, "operators">): string[] {
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
