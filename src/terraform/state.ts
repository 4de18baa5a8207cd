/**
 * What the hosts are now, read from OpenTofu's state (`state pull`: the raw state, version 4,
 * from whichever backend holds it). Pure. Only the modules' own resources are read: each host is
 * one instance of `docker_container.host` (local) or `digitalocean_droplet.host`, keyed by name.
 */

export interface HostsInState {
  /** Every host name in the state, in the state's order. */
  names: string[];
  /** digitalocean: the host the package data volume is attached to. */
  packageDataHost?: string;
}

interface StateInstance {
  index_key?: unknown;
  attributes?: Record<string, unknown>;
}
interface StateResource {
  mode?: string;
  type?: string;
  name?: string;
  module?: string;
  instances?: StateInstance[];
}

const hostTypes = ["docker_container", "digitalocean_droplet"];

export function hostsInState(state: unknown): HostsInState {
  const resources = ((state as { resources?: unknown } | undefined)?.resources ?? []) as
    StateResource[] | unknown;
  if (!Array.isArray(resources)) return { names: [] };
  const own = (resources as StateResource[]).filter((r) => r.mode === "managed" && !r.module);
  const hosts = own
    .filter((r) => r.name === "host" && hostTypes.includes(r.type ?? ""))
    .flatMap((r) => r.instances ?? [])
    .filter((i): i is StateInstance & { index_key: string } => typeof i.index_key === "string");
  const attachment = own.find(
    (r) => r.type === "digitalocean_volume_attachment" && r.name === "package_data",
  )?.instances?.[0]?.attributes;
  const holder = hosts.find(
    (h) => attachment && String(h.attributes?.id) === String(attachment.droplet_id),
  )?.index_key;
  // local: the stand-in's attachment records its worker by name (terraform_data's input).
  const localInput = own.find(
    (r) => r.type === "terraform_data" && r.name === "package_data_attachment",
  )?.instances?.[0]?.attributes?.input as { value?: { host?: unknown } } | undefined;
  const localHolder =
    typeof localInput?.value?.host === "string" ? localInput.value.host : undefined;
  const packageDataHost = holder ?? localHolder;
  return {
    names: hosts.map((h) => h.index_key),
    ...(packageDataHost ? { packageDataHost } : {}),
  };
}
