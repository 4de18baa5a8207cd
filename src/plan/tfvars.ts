/**
 * A target's OpenTofu var set from cluster.yaml and the host plan. Pure: each planned host gets
 * what its module needs (on the local target its address and SSH port, by its number), then
 * src/terraform/vars.ts maps it onto the module's variables.
 */
import type { Target } from "../config/schema.js";
import { computeVarSet, type TfVarSet } from "../terraform/vars.js";
import type { DnsRecord } from "./dns.js";
import { defaultLocalSubnet, localAddress, localNetwork, type HostPlan } from "./hosts.js";

export interface PlanVarSetInputs {
  /** One OpenSSH public key line, e.g. the contents of `<ssh.privateKey>.pub`. */
  sshPublicKey: string;
  /** digitalocean: extra droplet tags. */
  tags?: string[];
  /** local: the signed apt repository's folder on this machine (localAgentRepositoryDir). */
  aptRepositoryPath?: string;
  /** Every hostname's A record (dnsRecords): OpenTofu makes them in dns.zone or the test DNS. */
  dnsRecords: readonly DnsRecord[];
}

export function planVarSet(
  targetName: string,
  target: Target,
  hostPlan: Pick<HostPlan, "hosts" | "packageDataHost">,
  inputs: PlanVarSetInputs,
): TfVarSet {
  const common = {
    sshPublicKey: inputs.sshPublicKey,
    dnsRecords: inputs.dnsRecords,
    ...(inputs.tags ? { tags: inputs.tags } : {}),
    ...(hostPlan.packageDataHost ? { packageDataHost: hostPlan.packageDataHost } : {}),
  };
  if (target.provider === "digitalocean") {
    return computeVarSet(targetName, target, { ...common, hosts: hostPlan.hosts });
  }
  const subnet = target.network?.subnet ?? defaultLocalSubnet;
  return computeVarSet(targetName, target, {
    ...common,
    hosts: hostPlan.hosts.map((h) => ({ ...h, local: localAddress(h, subnet, target.ports.ssh) })),
    network: localNetwork(subnet),
    ...(inputs.aptRepositoryPath ? { aptRepositoryPath: inputs.aptRepositoryPath } : {}),
  });
}
