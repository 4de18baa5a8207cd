/** Ansible inventory as YAML, from the cluster's machines. Pure. */
import { dump } from "js-yaml";

export type InventoryGroup = "managers" | "workers";

export interface AnsibleHost {
  /** The inventory_hostname, e.g. `elm-manager-1`. */
  name: string;
  /** Address SSH connects to. */
  address: string;
  /** Default 22. */
  port?: number;
  group: InventoryGroup;
  /** Extra host variables. */
  vars?: Record<string, unknown>;
}

export interface InventoryOptions {
  /** Default "root". */
  user?: string;
  /** Variables for every host; merged over the defaults below. */
  vars?: Record<string, unknown>;
}

/**
 * Renders an inventory with the groups `managers` and `workers` (both always present, so plays
 * that target an empty group run nothing instead of failing to parse).
 */
export function renderInventory(hosts: AnsibleHost[], options: InventoryOptions = {}): string {
  const seen = new Set<string>();
  for (const host of hosts) {
    if (seen.has(host.name)) throw new Error(`inventory: host ${host.name} is listed twice`);
    seen.add(host.name);
  }
  const group = (name: InventoryGroup) => {
    const members = hosts.filter((h) => h.group === name);
    return { hosts: Object.fromEntries(members.map((h) => [h.name, hostVars(h)])) };
  };
  const inventory = {
    all: {
      vars: {
        ansible_user: options.user ?? "root",
        // Debian's python3 is always there on our images; skipping discovery avoids its warning.
        ansible_python_interpreter: "/usr/bin/python3",
        ...options.vars,
      },
      children: { managers: group("managers"), workers: group("workers") },
    },
  };
  return dump(inventory, { lineWidth: -1, noRefs: true, sortKeys: false });
}

function hostVars(host: AnsibleHost): Record<string, unknown> {
  return {
    ansible_host: host.address,
    ...(host.port !== undefined && host.port !== 22 ? { ansible_port: host.port } : {}),
    ...host.vars,
  };
}
