/**
 * Which SSH key a working copy logs in with (the target's, or the operator's own), and whether it
 * may make the target's pair. Pure. Who may log in (authorizedSshKeys) is in
 * config/ssh-public-key.ts, below both the planning and the OpenTofu variables.
 */

/** What this machine has of the target's key pair, and whether the operator gave their own key. */
export interface SshKeyFound {
  /** The target's private key (ssh.privateKey) is on this machine. */
  targetPrivate: boolean;
  /** Its public half is here (made with it, or the store's copy another operator shared). */
  targetPublic: boolean;
  /** ELM_INFRA_SSH_KEY_FILE: this operator logs in with their own key. */
  operatorKey: boolean;
}

export type SshKeyDecision =
  | { kind: "make" }
  | { kind: "use"; loginWith: "target" | "operator" }
  | { kind: "refuse"; why: string };

/**
 * The local target's key pair at bring-up (and scale): made only when neither half exists (the
 * first bring-up). A public half without its private key is another operator's (the store's
 * copy): a new pair would change the key OpenTofu gives every host and replace them all, so
 * this operator logs in with their own key, or is refused.
 */
export function judgeSshKey(found: SshKeyFound): SshKeyDecision {
  if (!found.targetPrivate && !found.targetPublic) return { kind: "make" };
  if (found.operatorKey) return { kind: "use", loginWith: "operator" };
  if (found.targetPrivate) return { kind: "use", loginWith: "target" };
  return {
    kind: "refuse",
    why: "the target's key was made by another operator (its public half came from the store) and this machine has no key of its own to log in with",
  };
}
