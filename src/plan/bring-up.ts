/**
 * Pure planning for bring-up: what OpenTofu's plan will do, said for a person, and the inventory
 * that OpenTofu's outputs describe.
 */

/** A host as the inventory records it (cluster/inventory.ts's InventoryHost has this shape). */
export interface HostRecord {
  name: string;
  role: "manager" | "worker";
  privateAddress: string;
  ssh: { host: string; port: number };
}

/** OpenTofu's machine-readable plan, the part read here (`tofu show -json <plan>`). */
export interface TofuPlanJson {
  resource_changes?: Array<{
    address: string;
    mode?: string;
    change: {
      actions: string[];
      before?: Record<string, unknown> | null;
      after?: Record<string, unknown> | null;
    };
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

/**
 * The hosts whose keys this run may trust on first contact: those the apply just created (or
 * replaced). Every other host must present the key pinned when it was created.
 */
export function hostsToTrustOnFirstUse(summary: PlanSummary | undefined): Set<string> {
  return new Set(summary ? [...summary.hosts.create, ...summary.hosts.replace] : []);
}
