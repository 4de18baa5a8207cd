/**
 * DNS before certificates: says which A records the target needs (made by OpenTofu in the
 * DigitalOcean zone or the local target's test DNS, else by the user), then waits until the
 * target's resolvers answer every hostname with the load balancer's address and nothing else.
 * The issuer is asked for certificates only then: a CA's HTTP-01 request reaches it through the
 * load balancer, and each failed validation counts against Let's Encrypt's limits.
 */
import type { LoadedConfig } from "../config/load.js";
import type { Inventory } from "../cluster/inventory.js";
import { lookUpAddresses } from "../dns/resolver.js";
import { OperationError } from "../errors.js";
import {
  describeNotPointing,
  describeRecords,
  dnsRecords,
  dnsServers,
  judgeDns,
  recordsMadeBy,
  type NotPointing,
} from "../plan/dns.js";
import { done, notYet, waitFor } from "../wait.js";

type Log = (line: string) => void;

/** The address every hostname's A record must give: the load balancer's, as OpenTofu made it. */
export function loadBalancerDnsAddress(config: LoadedConfig, inventory: Inventory): string {
  const address =
    inventory.dns?.address ??
    // An inventory from before the dns output: DigitalOcean's load balancer host is its address.
    (config.target.provider === "digitalocean" ? inventory.loadBalancer?.host : undefined);
  if (!address)
    throw new OperationError(
      `target ${config.targetName} has no load balancer address for DNS recorded (the inventory predates it)`,
      `run bring-up again: elm-infra bring-up --target ${config.targetName}`,
    );
  return address;
}

/**
 * Says the records, then waits (bounded) until every hostname points at the load balancer. The
 * failure names each hostname that does not, what DNS says instead and what to do.
 */
export async function waitForDns(
  config: LoadedConfig,
  inventory: Inventory,
  options: { deadlineMs?: number; signal?: AbortSignal; log: Log },
): Promise<void> {
  const address = loadBalancerDnsAddress(config, inventory);
  const records = dnsRecords(config);
  const madeBy = recordsMadeBy(config.target);
  const servers = dnsServers(config.target);
  const zone = config.target.dns?.zone;
  const listed = describeRecords(records, address).join(", ");
  options.log(
    madeBy === "opentofu"
      ? `A records made by OpenTofu in ${zone ? `the zone ${zone}` : "the target's test DNS"}: ${listed}`
      : `create these DNS records where the names are hosted (and no AAAA record: the load balancer has no IPv6 address): ${listed}`,
  );
  let notPointing: NotPointing[] = [];
  let said = "";
  const hostnames = records.map((r) => r.hostname);
  await waitFor(
    {
      what: "DNS to point every hostname at the load balancer",
      timeoutMs: options.deadlineMs ?? (config.target.provider === "local" ? 120_000 : 600_000),
      intervalMs: 3000,
      ...(options.signal ? { signal: options.signal } : {}),
      message: (t) =>
        `${describeNotPointing(notPointing, address, madeBy)}\n(asked ${servers.join(", ")} for ${t.seconds} s)`,
      hint: "once every hostname points at the load balancer (and has no AAAA record), run the command again: it waits for DNS first",
    },
    async () => {
      const verdict = judgeDns(hostnames, address, await lookUpAddresses(servers, hostnames));
      notPointing = verdict.notPointing;
      if (notPointing.length === 0) return done(undefined);
      const now = describeNotPointing(notPointing, address, madeBy);
      if (now !== said) options.log((said = now));
      return notYet(now);
    },
  );
  options.log(`DNS points ${hostnames.join(", ")} at ${address} (asked ${servers.join(", ")})`);
}
