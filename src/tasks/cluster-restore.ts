/**
 * Disaster recovery, when every manager is lost (bring-up's lookForGoneHosts judged so): the new
 * managers OpenTofu made are bootstrapped alone (Ansible), the newest pair of the cluster's
 * snapshots is decrypted as it streams and restored through Nomad's and Consul's APIs, the workers
 * (whose allocations kept serving meanwhile) are pointed at the new managers, and the lost ones
 * are forgotten. The rest of bring-up then converges every host as always, and right after its
 * Ansible run waits until each worker's Nomad client reaches the new servers.
 */
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { decryptAgeStream } from "../age/client.js";
import { withHostAgents, withHostSsh, withManagers } from "../cluster/connect.js";
import { managersOf, workersOf, type Inventory, type InventoryHost } from "../cluster/inventory.js";
import type { LoadedConfig } from "../config/load.js";
import { OperationError } from "../errors.js";
import {
  clusterSnapshotsPath,
  snapshotFileName,
  type SnapshotSystem,
} from "../plan/cluster-snapshots.js";
import {
  admitThroughFirewallCommand,
  newestSnapshot,
  type SnapshotCandidate,
} from "../plan/disaster.js";
import { certificateSpecs, certificateVariable, servesHttps } from "../plan/tls.js";
import { certificateFacts } from "../plan/verify.js";
import type { NomadClient } from "../nomad/client.js";
import type { ConsulClient } from "../consul/client.js";
import { done, notYet, waitFor } from "../wait.js";
import {
  forgetHosts,
  given,
  pinHostKeys,
  recordInventory,
  runSite,
  setUpRegistry,
  waitForHostsSsh,
  type BringUpRun,
} from "./bring-up.js";
import { localBackupsDir } from "./package-data.js";
import { targetPaths } from "../cluster/paths.js";
import { forgetHostKeys, knownHostName } from "../ssh/index.js";
import { needed, type Step, type StepHandle } from "./runner.js";

const here = "here";
const noDisaster = (run: BringUpRun) => (run.managersLost ? false : "no manager is lost");

/**
 * The steps between OpenTofu's apply and the usual convergence, each skipped unless every
 * manager was lost: reach and pin the new hosts, bootstrap the managers alone, restore, point
 * the workers at them, forget the lost ones.
 */
export function recoverLostManagers(): Step<BringUpRun>[] {
  return [
    ...[recordInventory(), setUpRegistry(), waitForHostsSsh(), pinHostKeys()].map((s) => ({
      ...s,
      title: `Every manager lost: ${s.title.charAt(0).toLowerCase()}${s.title.slice(1)}`,
      skip: (run: BringUpRun) => noDisaster(run) || (s.skip?.(run) ?? false),
    })),
    bootstrapNewManagers(),
    restoreClusterState(),
    pointWorkersAtManagers(),
    forgetLostManagers(),
  ];
}

/** Ansible on the new managers only: fresh servers, ACLs bootstrapped with the secrets' tokens. */
function bootstrapNewManagers(): Step<BringUpRun> {
  return {
    title: "Every manager lost: bootstrap the new managers alone (Ansible)",
    needs: ["inventory", "secrets"],
    skip: noDisaster,
    run: async (run, step) => {
      const managers = managersOf(given(run, "inventory")).map((h) => h.name);
      const changed = await runSite(run, step, { limit: managers.join(",") });
      run.ansibleChanged = { ...run.ansibleChanged, ...changed };
      step.log(`${managers.join(", ")}: servers up, empty`);
    },
  };
}

/** The newest snapshot pair, decrypted as it streams into Consul's restore, then Nomad's. */
function restoreClusterState(): Step<BringUpRun> {
  return {
    title: "Every manager lost: restore the cluster's state from its newest snapshots",
    needs: ["inventory"],
    skip: noDisaster,
    run: async (run, step) => {
      const { config } = run;
      const inventory = given(run, "inventory");
      const identity = config.secrets.clusterSnapshotIdentity;
      if (!identity)
        throw new OperationError(
          `the secrets of target ${config.targetName} lack clusterSnapshotIdentity: the snapshots cannot be decrypted`,
          "put the identity the snapshots were encrypted to into the secrets file",
        );
      const candidates = await findSnapshots(config, inventory, step.signal);
      const newest = newestSnapshot(candidates);
      if (!newest)
        throw new OperationError(
          `no snapshot of the cluster was found (here: ${localBackupsDir(config)}; on the workers: ${clusterSnapshotsPath}): the lost managers' state cannot be restored`,
          "copy a snapshot pair (cluster-<time>/nomad.snap.age, consul.snap.age) into the folder here and run bring-up again",
        );
      step.log(`newest snapshot: ${newest.name} (${newest.where}, of ${candidates.length} found)`);
      const workers = workersOf(inventory);
      await withManagers(config, managersOf(inventory), step.signal, async (apis) => {
        const restore = async (system: SnapshotSystem, client: NomadClient | ConsulClient) => {
          const what = `${newest.name}/${snapshotFileName(system)} (${newest.where})`;
          await streamSnapshot(config, inventory, newest, system, step.signal, async (cipher) => {
            const age = decryptAgeStream(identity, cipher, { what, signal: step.signal });
            await Promise.all([client.restoreSnapshot(age.plaintext, step.signal), age.done]);
          });
          step.log(`${system}: restored from ${what}`);
          await waitForLeader(`${system}'s leader after the restore`, () => client.leader(), {
            timeoutMs: 60_000,
            signal: step.signal,
          });
        };
        // The workers' firewalls admit the new managers first (their addresses are new to
        // them): an e2e drill saw the join below time out without it.
        await admitThroughWorkersFirewalls(config, inventory, step);
        // Consul first: Nomad's servers and clients use the tokens that come back with it.
        await restore("consul", apis.consul);
        // At once: the restored catalog's workers are not in the new servers' gossip, and the
        // leader's next reconcile (within a minute) would deregister them with their services.
        // Their agents cannot be asked (with no server, none can resolve a token): the new
        // servers join them.
        for (const worker of workers) await apis.consul.join(worker.privateAddress);
        step.log(`consul: the new servers joined ${workers.map((w) => w.name).join(", ")}`);
        await admitNewManagers(run, apis.consul, step);
        await restore("nomad", apis.nomad);
        const back = await whatCameBack(config, apis.nomad);
        step.log(
          `back: ${back.jobs.length} jobs (${back.jobs.join(", ")}); certificates ${back.certificates.map((c) => `${c.service} serial ${c.serial}`).join(", ") || "none"}`,
        );
        run.restoredFrom = { name: newest.name, where: newest.where, ...back };
      });
    },
  };
}

/**
 * The new managers admitted through each worker's firewall, whose set of cluster addresses still
 * names the lost ones until the workers' Ansible run later in bring-up: without it the workers
 * drop the new servers' gossip (Consul's join times out) and Nomad's. Added to, never replaced.
 */
async function admitThroughWorkersFirewalls(
  config: LoadedConfig,
  inventory: Inventory,
  step: StepHandle,
): Promise<void> {
  const managers = managersOf(inventory);
  const command = admitThroughFirewallCommand(managers.map((m) => m.privateAddress));
  for (const worker of workersOf(inventory)) {
    const r = await withHostSsh(config, worker, step.signal, (ssh) =>
      ssh.exec(command, { timeoutMs: 30_000 }),
    );
    if (r.status !== 0)
      throw new OperationError(
        `on ${worker.name}: could not admit the new managers through its firewall (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-300)}`,
        "run bring-up again; if it fails again, check nft on that host (nft list table inet elm_infra)",
      );
    step.log(
      r.stdout.includes("admitted")
        ? `${worker.name}: its firewall admits ${managers.map((m) => m.name).join(", ")}`
        : `${worker.name}: no host firewall to admit the new managers through`,
    );
  }
}

/**
 * The restored agents' token names the lost managers' nodes, not the new ones' (Ansible rewrites
 * it when hosts come or go, later in this run): without it the new managers cannot register
 * their node, nor so the Nomad servers' service that the workers' Nomad clients find them by.
 * Their nodes are added to it now, and each new manager's agent given its token again, which
 * makes it sync its node and services into the restored catalog at once.
 */
async function admitNewManagers(run: BringUpRun, consul: ConsulClient, step: StepHandle) {
  const secret = run.config.secrets.consulAgentToken;
  const token = secret ? await consul.tokenOf(secret) : undefined;
  if (!secret || !token) {
    step.log("the agents' Consul token is not in the restored state: Ansible makes it later");
    return;
  }
  const named = token.NodeIdentities ?? [];
  const datacenter = named[0]?.Datacenter ?? "dc1";
  const managers = managersOf(given(run, "inventory"));
  const missing = managers.filter((m) => !named.some((n) => n.NodeName === m.name));
  if (missing.length > 0) {
    await consul.updateToken({
      ...token,
      NodeIdentities: [
        ...named,
        ...missing.map((m) => ({ NodeName: m.name, Datacenter: datacenter })),
      ],
    });
    step.log(`consul: the agents' token names ${missing.map((m) => m.name).join(", ")} too`);
  }
  for (const manager of managers)
    await withHostAgents(run.config, manager, step.signal, (agents) =>
      agents.consul.setAgentToken("agent", secret),
    );
}

/** What the restored state holds: the jobs that run, and each certificate's serial. */
async function whatCameBack(
  config: LoadedConfig,
  nomad: NomadClient,
): Promise<{ jobs: string[]; certificates: Array<{ service: string; serial: string }> }> {
  const jobs = (await nomad.jobsWithPrefix(""))
    .filter((j) => !j.ParentID && j.Status === "running")
    .map((j) => j.ID)
    .sort();
  const certificates = [];
  for (const spec of servesHttps(config.target) ? certificateSpecs(config) : []) {
    const cert = (await nomad.readVariable(certificateVariable(spec.name)))?.Items.cert;
    if (cert) certificates.push({ service: spec.service, serial: certificateFacts(cert).serial });
  }
  return { jobs, certificates };
}

/** Until `leader` names one (an error or an empty answer: not yet), within `timeoutMs`. */
async function waitForLeader(
  what: string,
  leader: () => Promise<string>,
  o: { timeoutMs: number; signal: AbortSignal },
): Promise<string> {
  return waitFor({ what, timeoutMs: o.timeoutMs, intervalMs: 1000, signal: o.signal }, async () => {
    const said = await leader().catch(() => "");
    return said ? done(said) : notYet("no leader known yet");
  });
}

/**
 * The workers' Nomad clients told where the new servers are, where a client's ACL cache still
 * resolves the management token (a client whose cache lapsed cannot resolve it with no server:
 * it finds them through Consul, client_auto_join, as the restored catalog and the new servers'
 * own registrations name them, or from the configuration the next Ansible run writes). Not
 * waited for here: workersReachNewManagers does, after that run, well within the heartbeat grace
 * the restored servers give every node.
 */
function pointWorkersAtManagers(): Step<BringUpRun> {
  return {
    title: "Every manager lost: the workers' Nomad clients told where the new servers are",
    needs: ["inventory"],
    skip: noDisaster,
    run: async (run, step) => {
      const inventory = given(run, "inventory");
      const servers = managersOf(inventory).map((m) => `${m.privateAddress}:4647`);
      await Promise.all(
        workersOf(inventory).map((worker) =>
          withHostAgents(run.config, worker, step.signal, async (apis) => {
            await apis.nomad.setClientServers(servers).then(
              () => step.log(`${worker.name}: Nomad's servers set to ${servers.join(", ")}`),
              (error: unknown) =>
                step.log(
                  `${worker.name}: Nomad's servers not set (${(error as Error).message}): it finds them through Consul or its new configuration`,
                ),
            );
          }),
        ),
      );
    },
  };
}

/**
 * After the hosts' Ansible run (the workers' configuration names the new servers): done when
 * each worker's Nomad names the leader. Every worker at once: each waits on its own client.
 */
export function workersReachNewManagers(): Step<BringUpRun> {
  return {
    title: "Every manager lost: the workers' Nomad clients reach the new servers",
    needs: ["inventory"],
    skip: noDisaster,
    run: async (run, step) => {
      await Promise.all(
        workersOf(given(run, "inventory")).map((worker) =>
          withHostAgents(run.config, worker, step.signal, async (apis) => {
            const leader = await waitForLeader(
              `${worker.name}'s Nomad client to reach the new servers`,
              () => apis.nomad.leader(),
              { timeoutMs: 180_000, signal: step.signal },
            );
            step.log(`${worker.name}: Nomad's leader is ${leader}`);
          }),
        ),
      );
    },
  };
}

/** The lost managers forgotten by the restored cluster (members, raft peers, nodes). */
function forgetLostManagers(): Step<BringUpRun> {
  return {
    title: "Every manager lost: forget the lost managers",
    needs: ["inventory"],
    skip: noDisaster,
    run: async (run, step) => {
      const inventory = given(run, "inventory");
      const lost = needed(run, "managersLost", "forget the lost managers").hosts;
      await forgetHosts(
        run,
        step,
        lost.map((h) => h.name),
        { ...inventory, hosts: [...inventory.hosts, ...lost] },
        { hostKeys: false },
      );
      // Their pinned keys too, but not by an address a new host took over (its key is pinned
      // already): left behind, destroy found them in known_hosts after the drill.
      const inUse = new Set(inventory.hosts.map((h) => knownHostName(h.ssh.host, h.ssh.port)));
      const stale = lost
        .map((h) => knownHostName(h.ssh.host, h.ssh.port))
        .filter((name) => !inUse.has(name));
      if (stale.length > 0) await forgetHostKeys(targetPaths(run.config).knownHosts, stale);
    },
  };
}

/** Every snapshot pair found: here (what `backup cluster` copied) and on each worker. */
async function findSnapshots(
  config: LoadedConfig,
  inventory: Inventory,
  signal: AbortSignal,
): Promise<SnapshotCandidate[]> {
  const found: SnapshotCandidate[] = [];
  const dir = localBackupsDir(config);
  for (const name of await readdir(dir).catch(() => [] as string[]))
    if (name.startsWith("cluster-"))
      found.push({ name, where: here, files: await readdir(join(dir, name)).catch(() => []) });
  for (const worker of workersOf(inventory)) {
    const listed = await withHostSsh(config, worker, signal, (ssh) =>
      ssh.exec(
        `find ${clusterSnapshotsPath} -mindepth 2 -maxdepth 2 -name '*.snap.age' 2>/dev/null || true`,
      ),
    );
    const byFolder = new Map<string, string[]>();
    for (const line of listed.stdout.split("\n")) {
      const [name, file] = line.slice(clusterSnapshotsPath.length + 1).split("/");
      if (name && file) byFolder.set(name, [...(byFolder.get(name) ?? []), file]);
    }
    for (const [name, files] of byFolder) found.push({ name, where: worker.name, files });
  }
  return found;
}

/** One file of the pair as a stream: read here, or `cat` on the worker that keeps it. */
async function streamSnapshot(
  config: LoadedConfig,
  inventory: Inventory,
  snapshot: SnapshotCandidate,
  system: SnapshotSystem,
  signal: AbortSignal,
  use: (ciphertext: Readable) => Promise<void>,
): Promise<void> {
  if (snapshot.where === here)
    return use(
      createReadStream(join(localBackupsDir(config), snapshot.name, snapshotFileName(system))),
    );
  const worker = inventory.hosts.find((h) => h.name === snapshot.where) as InventoryHost;
  await withHostSsh(config, worker, signal, async (ssh) => {
    const cipher = new PassThrough();
    const remote = `${clusterSnapshotsPath}/${snapshot.name}/${snapshotFileName(system)}`;
    const [{ status, stderr }] = await Promise.all([
      ssh.execStream(`cat ${remote}`, { stdout: cipher }),
      use(cipher),
    ]);
    if (status !== 0)
      throw new OperationError(`reading ${remote} on ${worker.name} failed: ${stderr.trim()}`);
  });
}
