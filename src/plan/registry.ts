/**
 * Where a target's images live, pure. The operator pushes to `push`, the workers pull from `pull`:
 * one address in production (DigitalOcean's registry), two on the local target (its registry on
 * loopback for this machine, on the target's network for the workers). `none` (the dev target)
 * names images as this machine's Docker engine holds them.
 */
import type { Target } from "../config/schema.js";

export type RegistrySetting = Target["registry"];

export interface RegistryAddresses {
  /** `host[:port][/path]` where this machine pushes (and checks manifests). */
  push: string;
  /** `host[:port][/path]` the workers' Docker pulls from: what the jobs' image references name. */
  pull: string;
}

/** The registry's two addresses; undefined for `none`. */
export function registryAddresses(registry: RegistrySetting): RegistryAddresses | undefined {
  if (registry === "none") return undefined;
  return typeof registry === "string" ? { push: registry, pull: registry } : registry;
}

/** `host[:port]`: what Docker keys credentials and `/etc/docker/certs.d/` by. */
export function registryHost(address: string): string {
  return address.split("/")[0]!;
}

/** The repository's path inside the registry: the address's path, then the repository. */
export function repositoryPath(address: string, repository: string): string {
  return [...address.split("/").slice(1), repository].join("/");
}

/** `<pull>/<repository>:<tag>` (what the jobs run), or `<repository>:<tag>` for `none`. */
export function imageRef(
  registry: RegistrySetting,
  repository: string,
  tag: string,
  side: keyof RegistryAddresses = "pull",
): string {
  const addresses = registryAddresses(registry);
  return addresses ? `${addresses[side]}/${repository}:${tag}` : `${repository}:${tag}`;
}

/**
 * Does the target build this image itself (Traefik's, the backup export's)? The local target
 * does: nothing can be pulled from the internet there, so they are made by images/base/build.sh
 * and pushed to its registry. Elsewhere the official images are pulled.
 */
export function buildsPlatformImages(target: Pick<Target, "provider" | "registry">): boolean {
  return target.provider === "local" && target.registry !== "none";
}

/** Does the target run its own registry (iac/local's container), set up by bring-up? */
export function hasLocalRegistry(
  target: Pick<Target, "provider" | "registry" | "endpoints">,
): boolean {
  return target.provider === "local" && target.registry !== "none" && !target.endpoints;
}

/** An image bring-up pushes: this machine's `source` under `<push>/<repository>:<tag>`. */
export interface PlatformImage {
  source: string;
  /** `<repository>:<tag>` inside the registry. */
  name: string;
  /** How to make `source` when this machine lacks it. */
  hint: string;
}

/** Where a platform image (`source`) is pulled from by the workers. */
export function platformImageRef(
  target: Pick<Target, "registry">,
  image: Pick<PlatformImage, "name" | "source">,
): string {
  const addresses = registryAddresses(target.registry);
  return addresses ? `${addresses.pull}/${image.name}` : image.source;
}

/** The repository of a `<repository>:<tag>` name. */
export const repositoryOf = (name: string): string => name.replace(/:[^:/]*$/, "");

/**
 * Pure: does the registry's plan have room for every repository elm-infra pushes, beside those it
 * holds? The refusal's words, or undefined. A plan that includes 0 repositories has no limit.
 */
export function registryRoom(
  plan: { name: string; includedRepositories: number },
  needed: readonly string[],
  existing: readonly string[],
): string | undefined {
  if (plan.includedRepositories <= 0) return undefined;
  const have = new Set(existing);
  const added = [...new Set(needed)].filter((r) => !have.has(r));
  const total = have.size + added.length;
  if (total <= plan.includedRepositories) return undefined;
  return `the registry's ${plan.name} plan holds ${plan.includedRepositories} ${plan.includedRepositories === 1 ? "repository" : "repositories"}, and elm-infra pushes ${needed.join(", ")}: with the ${have.size} it holds (${[...have].join(", ") || "none"}) that makes ${total}`;
}
