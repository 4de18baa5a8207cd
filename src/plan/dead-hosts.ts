/**
 * Which recorded hosts are gone (a VM lost), so bring-up replaces them with new hosts instead of
 * recreating them under the same name. Pure: OpenTofu's refreshed plan, who answered SSH and what
 * Nomad and Consul say in; the dead hosts, each with the evidence, out. A host counts as dead
 * only when its machine is gone or silent AND the cluster agrees (Consul: not alive; a worker's
 * Nomad node: down): a slow sshd alone never gets a host replaced.
 */
import type { TofuPlanJson } from "./bring-up.js";

export interface DeadHost {
  host: string;
  why: string;
}

export interface DeadHostEvidence {
  /** The inventory's hosts. */
  hosts: ReadonlyArray<{ name: string; role: "manager" | "worker" }>;
  /** OpenTofu's plan after a refresh. */
  plan: TofuPlanJson;
  /** Hosts whose sshd did not answer within the short deadline. */
  sshSilent: readonly string[];
  /** Consul's gossip members (status 1 is alive). */
  consulMembers: ReadonlyArray<{ name: string; status: number }>;
  nomadNodes: ReadonlyArray<{ name: string; status: string }>;
}

const hostResource = /^(docker_container|digitalocean_droplet)\.host\["([a-z0-9-]+)"\]$/;

/**
 * Hosts whose machine OpenTofu's refresh found stopped (the local target's container, which the
 * plan would start or replace) or no longer there at all (the plan would create it).
 */
export function machinesGone(plan: TofuPlanJson): string[] {
  const gone: string[] = [];
  for (const rc of plan.resource_changes ?? []) {
    const name = hostResource.exec(rc.address)?.[2];
    if (!name || rc.mode === "data") continue;
    const { actions, before, after } = rc.change;
    // Created (vanished), replaced (the docker provider replaces a killed container) or
    // started again (must_run back to true): never proof alone, the cluster must agree.
    const createdAgain = actions.includes("create");
    const restarted =
      actions.includes("update") && before?.must_run === false && after?.must_run === true;
    if (createdAgain || restarted) gone.push(name);
  }
  return gone;
}

export function findDeadHosts(e: DeadHostEvidence): DeadHost[] {
  const gone = new Set(machinesGone(e.plan));
  const dead: DeadHost[] = [];
  for (const h of e.hosts) {
    const machine = gone.has(h.name)
      ? "its machine is not running (OpenTofu's refresh)"
      : e.sshSilent.includes(h.name)
        ? "its sshd does not answer"
        : undefined;
    if (!machine) continue;
    const member = e.consulMembers.find((m) => m.name === h.name);
    const node = e.nomadNodes.find((n) => n.name === h.name);
    const consulDown = !member || member.status !== 1;
    const nomadDown = h.role === "worker" && (!node || node.status === "down");
    if (!consulDown && !nomadDown) continue;
    const agreed = [
      ...(consulDown ? [`Consul: ${member ? `status ${member.status}` : "not a member"}`] : []),
      ...(nomadDown ? [`Nomad: ${node ? node.status : "no node"}`] : []),
    ];
    dead.push({ host: h.name, why: `${machine}; ${agreed.join(", ")}` });
  }
  return dead;
}
