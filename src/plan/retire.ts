/**
 * Taking a host out of the cluster: the decisions, pure. tasks/retire.ts does the I/O: it reads
 * Nomad's and Consul's answers, asks these functions what they mean, and acts or waits.
 */

/** The parts of a Nomad allocation the decisions read. */
export interface RetireAlloc {
  ID: string;
  JobID?: string;
  JobType?: string;
  TaskGroup: string;
  NodeID: string;
  ClientStatus: string;
  DesiredStatus: string;
  DeploymentStatus?: { Healthy?: boolean | null } | null;
}

/** A task group whose allocations must run elsewhere before the worker goes. */
export interface GroupToReplace {
  job: string;
  group: string;
  /** How many allocations of it must run and be healthy once the worker is gone. */
  count: number;
}

const live = (a: RetireAlloc) =>
  a.DesiredStatus === "run" && (a.ClientStatus === "running" || a.ClientStatus === "pending");

/**
 * The service groups with a live allocation on the node: each must be running and healthy
 * elsewhere, at the count the job asks for (`counts`: "<job>/<group>" -> Count), before the node
 * is gone. System and batch allocations are not replaced: a system job runs on every node anyway.
 */
export function groupsToReplace(
  onNode: readonly RetireAlloc[],
  counts: Readonly<Record<string, number>>,
): GroupToReplace[] {
  const seen = new Map<string, GroupToReplace>();
  for (const a of onNode) {
    if (!live(a) || (a.JobType ?? "service") !== "service" || !a.JobID) continue;
    const key = `${a.JobID}/${a.TaskGroup}`;
    if (seen.has(key)) continue;
    seen.set(key, { job: a.JobID, group: a.TaskGroup, count: counts[key] ?? 1 });
  }
  return [...seen.values()];
}

export type DrainVerdict =
  { kind: "done" } | { kind: "waiting"; detail: string } | { kind: "failed"; reason: string };

/** The parts of a Nomad node that tell a drain's progress. */
export interface DrainNode {
  Name: string;
  DrainStrategy?: unknown;
  LastDrain?: { Status?: string } | null;
}

/**
 * Is the node's drain done? Nomad clears the drain strategy when the drain ends, complete or
 * cancelled; done also needs no service allocation left running on it.
 */
export function drainVerdict(node: DrainNode, onNode: readonly RetireAlloc[]): DrainVerdict {
  const service = (a: RetireAlloc) => (a.JobType ?? "service") === "service";
  const left = onNode.filter((a) => live(a) && service(a));
  if (node.DrainStrategy) {
    // Told to stop but not stopped yet (a shutdown delay, a kill timeout).
    const stopping = onNode.filter(
      (a) => service(a) && a.DesiredStatus !== "run" && a.ClientStatus === "running",
    );
    const groups = (as: RetireAlloc[]) => as.map((a) => `${a.JobID ?? "?"}/${a.TaskGroup}`);
    return {
      kind: "waiting",
      detail: [
        `draining, ${left.length} service allocation(s) still on ${node.Name}`,
        ...(left.length > 0 ? [`to move: ${groups(left).join(", ")}`] : []),
        ...(stopping.length > 0 ? [`stopping: ${groups(stopping).join(", ")}`] : []),
      ].join("; "),
    };
  }
  if (node.LastDrain?.Status === "canceled")
    return { kind: "failed", reason: `the drain of ${node.Name} was cancelled` };
  if (left.length > 0)
    return {
      kind: "waiting",
      detail: `${left.length} service allocation(s) still running on ${node.Name}`,
    };
  return { kind: "done" };
}

/**
 * Are the groups that were on the node running and healthy elsewhere? An allocation counts
 * when it runs on another node and Nomad's health says healthy, or, for one Nomad tracks no health
 * for (no deployment), when each of its Consul checks passes (`passingInConsul`: allocation IDs).
 */
export function replacementsReady(
  groups: readonly GroupToReplace[],
  allocations: readonly RetireAlloc[],
  nodeId: string,
  passingInConsul: ReadonlySet<string>,
): { ready: boolean; waiting: string[] } {
  const waiting: string[] = [];
  for (const g of groups) {
    const healthy = allocations.filter(
      (a) =>
        a.JobID === g.job &&
        a.TaskGroup === g.group &&
        a.NodeID !== nodeId &&
        a.DesiredStatus === "run" &&
        a.ClientStatus === "running" &&
        (a.DeploymentStatus?.Healthy === true ||
          (a.DeploymentStatus?.Healthy == null && passingInConsul.has(a.ID))),
    ).length;
    if (healthy < g.count) waiting.push(`${g.job}/${g.group}: ${healthy} of ${g.count} healthy`);
  }
  return { ready: waiting.length === 0, waiting };
}

/** One server of a raft configuration (Nomad's and Consul's have this shape). */
export interface RaftPeer {
  ID: string;
  Node: string;
  Address: string;
  Voter: boolean;
}

/**
 * Whether a raft server is this host: Consul names it by node name, Nomad by `<name>.<region>`;
 * the address (`<private address>:<port>`) settles it when names differ.
 */
export function isHostServer(
  server: Pick<RaftPeer, "Node" | "Address">,
  host: { name: string; privateAddress: string },
): boolean {
  return (
    server.Node === host.name ||
    server.Node.startsWith(`${host.name}.`) ||
    server.Address.replace(/:\d+$/, "") === host.privateAddress
  );
}

/** Why taking this manager out now would be unsafe; none means it may go. */
export function managerRemovalRefusals(o: {
  host: { name: string; privateAddress: string };
  system: "Nomad" | "Consul";
  servers: readonly RaftPeer[];
  autopilotHealthy: boolean;
}): string[] {
  const reasons: string[] = [];
  const voters = o.servers.filter((s) => s.Voter);
  const left = voters.filter((s) => !isHostServer(s, o.host));
  if (left.length < 1)
    reasons.push(
      `${o.system} would have no voter left (its voters: ${voters.map((s) => s.Node).join(", ") || "none"})`,
    );
  if (!o.autopilotHealthy)
    reasons.push(`${o.system}'s autopilot reports the servers unhealthy now`);
  return reasons;
}

/**
 * Is the raft view settled after the host left? Its server is gone from the configuration, the
 * voters are the expected number, and autopilot says healthy.
 */
export function raftSettled(o: {
  host: { name: string; privateAddress: string };
  system: "Nomad" | "Consul";
  servers: readonly RaftPeer[];
  expectedVoters: number;
  autopilotHealthy: boolean;
}): { settled: boolean; detail: string } {
  const still = o.servers.filter((s) => isHostServer(s, o.host));
  if (still.length > 0)
    return { settled: false, detail: `${o.host.name} is still in ${o.system}'s raft` };
  const voters = o.servers.filter((s) => s.Voter).length;
  if (voters !== o.expectedVoters)
    return {
      settled: false,
      detail: `${o.system} has ${voters} voter(s), ${o.expectedVoters} expected`,
    };
  if (!o.autopilotHealthy)
    return { settled: false, detail: `${o.system}'s autopilot does not report healthy yet` };
  return { settled: true, detail: `${o.system}: ${voters} voter(s), healthy` };
}
