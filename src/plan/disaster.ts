/**
 * Disaster recovery, pure: is every manager lost (so bring-up must make new ones and restore the
 * cluster's state from its snapshots), and which snapshot pair to restore. With every server gone
 * nobody can be asked to agree that a host is dead (findDeadHosts asks Consul and Nomad), so the
 * judgement rests on two facts observed from outside: every manager's machine is gone or silent,
 * and no server answers through any host that remains.
 */
import { snapshotFileName, snapshotFiles, snapshotTime } from "./cluster-snapshots.js";

export interface ManagersLostEvidence {
  /** The inventory's managers. */
  managers: readonly string[];
  /** Hosts whose machine OpenTofu's refresh found gone or stopped (machinesGone). */
  machinesGone: readonly string[];
  /** Hosts whose sshd did not answer within the short deadline. */
  sshSilent: readonly string[];
  /** Per remaining host asked: did Nomad or Consul name a leader through its agents? */
  serversAsked: ReadonlyArray<{ host: string; leader: boolean; said: string }>;
}

export interface ManagersLostVerdict {
  lost: boolean;
  why: string;
}

/**
 * Lost only when every manager's machine is gone (by OpenTofu's refresh; a silent sshd alone is
 * not proof of a machine gone) AND no server answered through any host that remains. A manager
 * that is merely slow, or any server reachable through a worker, means the cluster is there.
 */
export function judgeManagersLost(e: ManagersLostEvidence): ManagersLostVerdict {
  if (e.managers.length === 0) return { lost: false, why: "no manager recorded" };
  const gone = e.managers.filter((m) => e.machinesGone.includes(m));
  if (gone.length < e.managers.length) {
    const there = e.managers.filter((m) => !gone.includes(m));
    return { lost: false, why: `${there.join(", ")}: machine still there` };
  }
  const answering = e.serversAsked.filter((a) => a.leader);
  if (answering.length > 0)
    return {
      lost: false,
      why: `a server answers through ${answering.map((a) => a.host).join(", ")}`,
    };
  if (e.serversAsked.length === 0)
    return { lost: false, why: "no remaining host to ask whether a server answers" };
  return {
    lost: true,
    why: `every manager's machine is gone (${gone.join(", ")}: OpenTofu's refresh) and no server answers through ${e.serversAsked.map((a) => `${a.host} (${a.said})`).join(", ")}`,
  };
}

/** A snapshot pair's folder (`cluster-<time>`) and where it is kept. */
export interface SnapshotCandidate {
  name: string;
  /** "here" (.elm-infra/<target>/backups) or the worker that keeps it. */
  where: string;
  /** The files the folder holds (`nomad.snap.age`, `consul.snap.age`, ...). */
  files: readonly string[];
}

/**
 * The newest whole pair (both Nomad's and Consul's file) by the time in its name; between copies
 * of the same pair, the one here (nothing to copy). Undefined when there is none.
 */
export function newestSnapshot(
  candidates: readonly SnapshotCandidate[],
): SnapshotCandidate | undefined {
  const whole = candidates.filter(
    (c) =>
      snapshotTime(c.name) !== undefined &&
      snapshotFiles.every((system) => c.files.includes(snapshotFileName(system))),
  );
  const time = (c: SnapshotCandidate) => snapshotTime(c.name)!.getTime();
  return [...whole].sort(
    (a, b) => time(b) - time(a) || Number(b.where === "here") - Number(a.where === "here"),
  )[0];
}

/**
 * The shell command that admits `addresses` (the new managers' private IPv4 addresses) through a
 * remaining host's firewall before its next Ansible run: they join the `cluster_sources` set of
 * the base role's nftables table (playbooks/roles/base/templates/firewall.nft.j2), which the
 * next run rewrites whole from the inventory. Without it a worker drops the new servers' gossip
 * and RPC (they have addresses the lost ones did not). Prints `admitted`, or `no firewall` on a
 * host without that table; anything but IPv4 addresses is refused here, never put in a command.
 */
export function admitThroughFirewallCommand(addresses: readonly string[]): string {
  const bad = addresses.filter((a) => !/^(\d{1,3}\.){3}\d{1,3}$/.test(a));
  if (addresses.length === 0 || bad.length > 0)
    throw new Error(`admitThroughFirewallCommand: not IPv4 addresses: ${JSON.stringify(bad)}`);
  const set = "inet elm_infra cluster_sources";
  return `if nft list set ${set} >/dev/null 2>&1; then nft add element ${set} '{ ${addresses.join(", ")} }' && echo admitted; else echo 'no firewall'; fi`;
}
