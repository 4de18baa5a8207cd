/**
 * Pure: where a target's hosts install Consul and Nomad from. Every target takes them from an apt
 * repository laid out as HashiCorp's (`<url>/dists/<suite>/...`, its signing key at `<url>/gpg`),
 * with the same Ansible tasks: production from apt.releases.hashicorp.com, the local target from
 * the signed stand-in that src/tools/agents-apt.sh builds from the pinned binaries and its
 * `<target>-apt` container serves on the target's network. `agentRepository` in cluster.yaml
 * overrides either (a mirror, a proxy).
 */
import { join } from "node:path";
import type { AgentRepository } from "../ansible/site.js";
import type { Target } from "../config/schema.js";
import { defaultLocalSubnet, localNetwork } from "./hosts.js";

export const hashicorpAptUrl = "https://apt.releases.hashicorp.com";

export function agentRepository(
  target: Pick<Target, "provider" | "network" | "agentRepository">,
): AgentRepository {
  const url =
    target.agentRepository?.url ??
    (target.provider === "local" ? localAptUrl(target) : hashicorpAptUrl);
  return { url, keyUrl: target.agentRepository?.keyUrl ?? `${url}/gpg` };
}

/** The local target's `<target>-apt` container, at .6 of its network. */
const localAptUrl = (target: Pick<Target, "network">) =>
  `http://${localNetwork(target.network?.subnet ?? defaultLocalSubnet).aptIp}`;

/**
 * Where a target's hosts find Debian's security archive when their own apt sources lack it: the
 * local target's hosts have no Debian source, and get the stand-in its `<target>-apt` container
 * serves beside the agents' repository (suite `bookworm-security`, same key). Production's hosts
 * keep Debian's own sources: none.
 */
export function securityRepository(
  target: Pick<Target, "provider" | "network">,
): AgentRepository | undefined {
  if (target.provider !== "local") return undefined;
  const url = localAptUrl(target);
  return { url, keyUrl: `${url}/gpg` };
}

/**
 * The local stand-in's folder in the tool cache: one per pinned version pair (agents-apt.sh),
 * with the agents' suite and the stand-in for Debian's security archive.
 */
export function localAgentRepositoryDir(
  cacheDir: string,
  versions: { nomad: string; consul: string },
): string {
  return join(
    cacheDir,
    "apt",
    "repo",
    `nomad-${versions.nomad}-consul-${versions.consul}-security`,
  );
}
