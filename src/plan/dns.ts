/**
 * Pure: the DNS a target needs. Every hostname of every service has an A record pointing at the
 * load balancer, and no AAAA record (the load balancer has no IPv6 address: an AAAA record sends
 * IPv6 visitors, and a CA that prefers IPv6, somewhere else). Which records those are, who makes
 * them (OpenTofu in a DigitalOcean zone or the local target's test DNS; else the user), and from
 * what a resolver answered, which hostnames do not point at the load balancer yet and why.
 */
import type { LoadedConfig } from "../config/load.js";
import { hostnamesOf } from "../config/load.js";
import type { Target } from "../config/schema.js";
import type { DnsAnswer } from "../dns/resolver.js";
import { defaultLocalDnsPort } from "../terraform/vars.js";

export type { DnsAnswer };

/** One record to make: the hostname, and its name inside the zone (`@` for the apex). */
export interface DnsRecord {
  hostname: string;
  type: "A";
  /** Relative to the zone when OpenTofu makes it there; else the hostname itself. */
  name: string;
}

/** Public resolvers, as a CA sees the names: asked unless `dns.resolvers` says otherwise. */
export const publicResolvers = ["1.1.1.1", "8.8.8.8"];

/** Every hostname of the target's services, each once, sorted. */
export function targetHostnames(config: Pick<LoadedConfig, "target" | "services">): string[] {
  const all = Object.keys(config.services).flatMap((s) => hostnamesOf(config, s));
  return [...new Set(all)].sort();
}

/** A hostname's name inside its zone: `@` for the apex, else the labels before the zone. */
export function recordName(hostname: string, zone: string): string {
  return hostname === zone ? "@" : hostname.slice(0, -(zone.length + 1));
}

/** The A records the target needs, named inside `dns.zone` when it has one. */
export function dnsRecords(config: Pick<LoadedConfig, "target" | "services">): DnsRecord[] {
  const zone = config.target.dns?.zone;
  return targetHostnames(config).map((hostname) => ({
    hostname,
    type: "A",
    name: zone ? recordName(hostname, zone) : hostname,
  }));
}

/**
 * Who makes the records: OpenTofu, in the DigitalOcean zone or the local target's test DNS
 * (its stand-in for the zone), or the user, at whatever DNS hosts the names.
 */
export function recordsMadeBy(target: Pick<Target, "provider" | "dns">): "opentofu" | "user" {
  return target.provider === "local" || target.dns?.zone ? "opentofu" : "user";
}

/** The DNS servers to ask, as `host[:port]`: the local target's test DNS, else dns.resolvers. */
export function dnsServers(
  target: Pick<Target, "provider" | "dns" | "ports">,
  localDnsHost = "127.0.0.1",
): string[] {
  if (target.provider === "local")
    return [`${localDnsHost}:${target.ports.dns ?? defaultLocalDnsPort}`];
  return target.dns?.resolvers ?? publicResolvers;
}

/** A hostname that does not point at the load balancer yet, and what DNS says instead. */
export interface NotPointing {
  hostname: string;
  /** What the resolvers say instead: "no A record", "A 198.51.100.7", "AAAA 2001:db8::1"... */
  why: string[];
  /** AAAA addresses the name has: they must go (the load balancer has none). */
  aaaa: string[];
  /** A addresses other than the load balancer's: they must go too. */
  others: string[];
}

/**
 * Pure verdict: the hostnames every resolver answers with exactly the load balancer's address
 * and no AAAA record, and the others with what they said instead.
 */
export function judgeDns(
  hostnames: readonly string[],
  address: string,
  answers: readonly DnsAnswer[],
): { pointing: string[]; notPointing: NotPointing[] } {
  const pointing: string[] = [];
  const notPointing: NotPointing[] = [];
  for (const hostname of hostnames) {
    const mine = answers.filter((a) => a.hostname === hostname);
    const why = new Set<string>();
    const aaaa = new Set<string>();
    const others = new Set<string>();
    if (mine.length === 0) why.add("not asked");
    for (const answer of mine) {
      const from = mine.length > 1 ? ` (${answer.server})` : "";
      if (!Array.isArray(answer.a)) why.add(`${answer.a.error}${from}`);
      else if (answer.a.length === 0) why.add(`no A record${from}`);
      else if (answer.a.some((ip) => ip !== address)) {
        const elsewhere = answer.a.filter((ip) => ip !== address);
        for (const ip of elsewhere) others.add(ip);
        why.add(`A ${elsewhere.join(", ")}${from}`);
      }
      if (Array.isArray(answer.aaaa)) for (const ip of answer.aaaa) aaaa.add(ip);
    }
    if (aaaa.size > 0) why.add(`AAAA ${[...aaaa].join(", ")}`);
    if (why.size === 0) pointing.push(hostname);
    else notPointing.push({ hostname, why: [...why], aaaa: [...aaaa], others: [...others] });
  }
  return { pointing, notPointing };
}

/** The records as a zone file would list them, one a line: `guide.elm-lang.org. A 203.0.113.10`. */
export function describeRecords(
  records: readonly { hostname: string }[],
  address: string,
): string[] {
  return records.map((r) => `${r.hostname}. A ${address}`);
}

/**
 * The message of a wait that is not over: which names do not point at the load balancer, what
 * DNS says instead, and what to do (records to create or fix, AAAA records to delete).
 */
export function describeNotPointing(
  notPointing: readonly NotPointing[],
  address: string,
  madeBy: "opentofu" | "user",
): string {
  const lines = notPointing.map((n) => `  ${n.hostname}: ${n.why.join("; ")}`);
  // No A record (or no answer) from some resolver: the record is to be made.
  const missing = notPointing.filter((n) => n.why.some((w) => !/^(A|AAAA) /.test(w)));
  const elsewhere = notPointing.filter((n) => n.others.length > 0);
  const withAaaa = notPointing.filter((n) => n.aaaa.length > 0);
  const todo: string[] = [];
  if (missing.length > 0)
    todo.push(
      madeBy === "opentofu"
        ? `bring-up makes these records with OpenTofu (run it for a hostname added since), unless a resolver still holds an older answer: ${describeRecords(missing, address).join(", ")}`
        : `create these records: ${describeRecords(missing, address).join(", ")}`,
    );
  if (elsewhere.length > 0)
    todo.push(
      `delete the A records that give another address (${elsewhere.map((n) => `${n.hostname} ${n.others.join(", ")}`).join("; ")}): only ${address} may answer, unless a resolver still holds an older answer`,
    );
  if (withAaaa.length > 0)
    todo.push(
      `delete the AAAA records of ${withAaaa.map((n) => n.hostname).join(", ")}: the load balancer has no IPv6 address, and elm-infra makes no AAAA record, so it cannot remove them`,
    );
  return [
    `DNS does not point ${notPointing.length === 1 ? "this hostname" : "these hostnames"} at the load balancer (${address}) yet:`,
    ...lines,
    ...todo.map((t) => `  then: ${t}`),
  ].join("\n");
}
