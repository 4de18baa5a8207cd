export {
  connectSsh,
  SshConnection,
  type SshTarget,
  type ExecOptions,
  type ExecResult,
  type PortForward,
} from "./connection.js";
export { checkHostKey, forgetHostKeys, type HostKeyPolicy } from "./host-keys.js";
export {
  HostKeyMismatchError,
  RemoteCommandError,
  SshConnectError,
  type HostKeyProblem,
} from "./errors.js";
export {
  parseKnownHosts,
  verifyHostKey,
  knownHostName,
  hostFieldMatches,
  formatKnownHostLine,
  presentedHostKey,
  fingerprintOf,
  withoutHosts,
  type KnownHostEntry,
  type HostKeyVerdict,
  type PresentedHostKey,
} from "./known-hosts.js";
export { waitForSsh, type WaitForSshOptions } from "./wait.js";
export { ensureKeyPair, keyExists, makeKeyPair, readPrivateKey } from "./keys.js";
