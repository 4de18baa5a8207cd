import { ConflictError, OperationError } from "../errors.js";

export type HostKeyProblem = "changed" | "revoked" | "not-pinned";

/** The host presented a key other than the one pinned for it: possibly someone in the middle. */
export class HostKeyMismatchError extends ConflictError {
  constructor(
    readonly host: string,
    readonly knownHostsPath: string,
    readonly presentedFingerprint: string,
    readonly pinnedFingerprints: string[],
    readonly problem: HostKeyProblem = "changed",
  ) {
    super(
      describeProblem(host, knownHostsPath, presentedFingerprint, pinnedFingerprints, problem),
      hintFor(host, knownHostsPath, problem),
    );
  }
}

function describeProblem(
  host: string,
  file: string,
  presented: string,
  pinned: string[],
  problem: HostKeyProblem,
): string {
  switch (problem) {
    case "changed":
      return `refused ${host}: its host key changed (presented ${presented}, pinned ${pinned.join(", ")} in ${file})`;
    case "revoked":
      return `refused ${host}: its host key ${presented} is marked @revoked in ${file}`;
    case "not-pinned":
      return `refused ${host}: no host key is pinned for it in ${file} (presented ${presented})`;
  }
}

function hintFor(host: string, file: string, problem: HostKeyProblem): string {
  if (problem === "not-pinned")
    return `check the fingerprint out of band, then add the host's key to ${file}`;
  return `if the machine was rebuilt on purpose, remove its line: ssh-keygen -R '${host}' -f ${file}; otherwise do not connect`;
}

/** The SSH connection could not be made or was lost (unreachable, timed out, key not accepted). */
export class SshConnectError extends OperationError {}

/** A remote command exited non-zero (or by a signal) and the caller asked for success. */
export class RemoteCommandError extends OperationError {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly status: number | null,
    readonly signal: string | undefined,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with ${status}`;
    const tail = stderr.trim().split("\n").slice(-5).join("\n");
    super(`on ${host}: \`${command}\` ${how}${tail ? `:\n${tail}` : ""}`);
  }
}
