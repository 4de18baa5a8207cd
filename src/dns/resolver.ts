/**
 * The DNS adapter: asks given DNS servers (never this machine's own resolver, which may know
 * other answers than the target's) for a hostname's A and AAAA records.
 */
import { Resolver } from "node:dns/promises";

/** What one resolver answered for one hostname: its A and AAAA addresses, or why none came. */
export interface DnsAnswer {
  hostname: string;
  server: string;
  /** A addresses; an error text when the question failed (timeout, refused, SERVFAIL). */
  a: string[] | { error: string };
  aaaa: string[] | { error: string };
}

/** Codes a resolver gives for "the name has no such record": an empty answer, not a failure. */
const noRecord = new Set(["ENODATA", "ENOTFOUND"]);

async function ask(
  resolver: Resolver,
  question: () => Promise<string[]>,
): Promise<string[] | { error: string }> {
  try {
    return await question();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    if (noRecord.has(code)) return [];
    return {
      error: code === "ETIMEOUT" ? "no answer (timeout)" : `DNS error ${code || String(error)}`,
    };
  }
}

/** Each server's A and AAAA answers for each hostname (2 s and 2 tries a question). */
export async function lookUpAddresses(
  servers: readonly string[],
  hostnames: readonly string[],
): Promise<DnsAnswer[]> {
  const answers: Promise<DnsAnswer>[] = [];
  for (const server of servers) {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([server]);
    for (const hostname of hostnames)
      answers.push(
        Promise.all([
          ask(resolver, () => resolver.resolve4(hostname)),
          ask(resolver, () => resolver.resolve6(hostname)),
        ]).then(([a, aaaa]) => ({ hostname, server, a, aaaa })),
      );
  }
  return Promise.all(answers);
}
