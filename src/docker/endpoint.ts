import { quote } from "../output/quote.js";
import { UsageError } from "../errors.js";

export interface SshAddress {
  username: string;
  host: string;
  port: number;
}

/**
 * Parses `[user@]host[:port]` (an IPv6 address goes in brackets: `[fd00::5]:22`), filling in the
 * target's SSH user and port. Refuses anything else before a connection is tried.
 */
export function parseSshAddress(
  text: string,
  defaults: { username: string; port: number },
): SshAddress {
  const match =
    /^(?:([a-z_][a-z0-9_-]{0,31})@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(
      text.trim(),
    );
  const port = match?.[3] === undefined ? defaults.port : Number(match[3]);
  if (!match || port < 1 || port > 65535) {
    throw new UsageError(
      `invalid SSH host ${quote(text)}`,
      "write it as [user@]host[:port], e.g. root@172.17.0.5:22",
    );
  }
  return { username: match[1] ?? defaults.username, host: match[2]!.replace(/^\[|\]$/g, ""), port };
}
