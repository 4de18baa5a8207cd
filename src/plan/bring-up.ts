/**
 * Pure planning for bring-up: what OpenTofu's plan will do, said for a person, and the inventory
 * that OpenTofu's outputs describe.
 */
import type { HostRole, Inventory, InventoryHost } from "../cluster/inventory.js";

/** OpenTofu's machine-readable plan, the part read here (`tofu show -json <plan>`). */
export interface TofuPlanJson {
  resource_changes?: Array<{
    address: string;
    mode?: string;
    change: { actions: string[] };
  }>;
}

export interface PlanSummary {
  create: string[];
  update: string[];
  replace: string[];
  destroy: string[];
  /** Hosts (by name) created, replaced or destroyed: what the user cares most about. */
  hosts: { create: string[]; replace: string[]; destroy: string[] };
  /** True when nothing would change. */
  unchanged: boolean;
}

/** Host names appear as the index of the resources made per host: `x.host["local-worker-1"]`. */
const hostKey = /\["([a-z0-9-]+-(?:manager|worker)-[0-9]+)"\]$/;

/** Sorts the plan's resource changes into what is created, updated, replaced and destroyed. */
export function summarizePlan(plan: TofuPlanJson): PlanSummary {
  const s: PlanSummary = {
    create: [],
    update: [],
    replace: [],
    destroy: [],
    hosts: { create: [], replace: [], destroy: [] },
    unchanged: true,
  };
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === "data") continue;
    const actions = rc.change.actions;
    const kind =
      actions.includes("create") && actions.includes("delete")
        ? "replace"
        : actions.includes("create")
          ? "create"
          : actions.includes("delete")
            ? "destroy"
            : actions.includes("update")
              ? "update"
              : undefined;
    if (!kind) continue;
    s[kind].push(rc.address);
    s.unchanged = false;
    const host = hostKey.exec(rc.address)?.[1];
    if (host && kind !== "update" && isHostResource(rc.address)) s.hosts[kind].push(host);
  }
  return s;
}

/** The resource that is the machine itself (a droplet or a host container), not its volume. */
function isHostResource(address: string): boolean {
  return /^(module\.[^.]+\.)*(docker_container|digitalocean_droplet)\./.test(address);
}

/** One line for the confirmation question and the summary. */
export function describePlan(s: PlanSummary): string {
  if (s.unchanged) return "no change: the infrastructure matches cluster.yaml";
  const parts = [
    `${s.create.length} to create`,
    `${s.update.length} to change`,
    `${s.replace.length} to replace`,
    `${s.destroy.length} to destroy`,
  ];
  const hosts = [
    ...s.hosts.create.map((h) => `+${h}`),
    ...s.hosts.replace.map((h) => `~${h}`),
    ...s.hosts.destroy.map((h) => `-${h}`),
  ];
  return `${parts.join(", ")}${hosts.length ? ` (hosts: ${hosts.join(" ")})` : ""}`;
}

/** The `hosts` and `load_balancer` outputs both iac modules have. */
export interface TofuOutputs {
  hosts?: Record<
    string,
    { role: string; private_ip: string; ssh_host: string; ssh_port: number | string }
  >;
  load_balancer?: {
    host: string;
    http_port: number | string;
    https_port: number | string;
  } | null;
}

export class OutputsError extends Error {}

/** The inventory bring-up records, from OpenTofu's outputs; managers first, each by number. */
export function inventoryFromOutputs(target: string, outputs: TofuOutputs): Inventory {
  const hosts = outputs.hosts;
  if (!hosts || typeof hosts !== "object")
    throw new OutputsError("OpenTofu's outputs have no `hosts` map");
  const list: InventoryHost[] = Object.entries(hosts).map(([name, h]) => {
    if (h.role !== "manager" && h.role !== "worker")
      throw new OutputsError(`host ${name} has role ${JSON.stringify(h.role)}`);
    return {
      name,
      role: h.role as HostRole,
      privateAddress: h.private_ip,
      ssh: { host: h.ssh_host, port: Number(h.ssh_port) },
    };
  });
  list.sort(byRoleAndNumber);
  const lb = outputs.load_balancer;
  return {
    target,
    hosts: list,
    ...(lb
      ? {
          loadBalancer: {
            host: lb.host,
            httpPort: Number(lb.http_port),
            httpsPort: Number(lb.https_port),
          },
        }
      : {}),
  };
}

function byRoleAndNumber(a: InventoryHost, b: InventoryHost): number {
  if (a.role !== b.role) return a.role === "manager" ? -1 : 1;
  const n = (h: InventoryHost) => Number(/-([0-9]+)$/.exec(h.name)?.[1] ?? 0);
  return n(a) - n(b) || a.name.localeCompare(b.name);
}

/**
 * The hosts whose keys this run may trust on first contact: those the apply just created (or
 * replaced). Every other host must present the key pinned when it was created.
 */
export function hostsToTrustOnFirstUse(summary: PlanSummary | undefined): Set<string> {
  return new Set(summary ? [...summary.hosts.create, ...summary.hosts.replace] : []);
}
