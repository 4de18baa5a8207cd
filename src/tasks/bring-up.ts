/**
 * Bring-up's steps, each a named piece of the runbook: plan the machines, apply, record them,
 * wait for SSH, pin host keys, bootstrap with Ansible, verify, deploy the ingress. Every step is
 * safe to run again: a second bring-up continues where a failed one stopped.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readSecrets, sshKeyFileEnv, writeSecrets, type LoadedConfig } from "../config/load.js";
import { readUserFile } from "../config/read-file.js";
import { ConfigError, OperationError } from "../errors.js";
import { done, notYet, waitFor, WaitTimeoutError } from "../wait.js";
import { registerSecret } from "../output/redact.js";
import {
  FAST_HEALTH,
  runSitePlaybook,
  type AnsibleEvent,
  type SiteSecrets,
  type SiteSettings,
} from "../ansible/index.js";
import {
  connectSsh,
  ensureKeyPair,
  keyExists,
  makeKeyPair,
  forgetHostKeys,
  knownHostName,
  SshConnectError,
  waitForSsh,
} from "../ssh/index.js";
import { describeEvent, type TerraformEvent } from "../terraform/events.js";
import type { PlanResult, TerraformRunner } from "../terraform/runner.js";
import { inventoryFromOutputs, prepareTerraform, readSshPublicKey } from "../cluster/terraform.js";
import {
  managersOf,
  playbookHosts,
  workersOf,
  writeInventory,
  type Inventory,
  type InventoryHost,
} from "../cluster/inventory.js";
import { sshTargetFor, withHostAgents } from "../cluster/connect.js";
import { targetPaths } from "../cluster/paths.js";
import type { HostPlan } from "../plan/hosts.js";
import {
  describePlan,
  summarizePlan,
  type PlanSummary,
  type TofuPlanJson,
} from "../plan/bring-up.js";
import {
  planClusterSecrets,
  type GeneratedSecretField,
  type SecretsPlan,
} from "../plan/secrets.js";
import { needed, type Step, type StepHandle } from "./runner.js";
import { shareSecretsInStore, shareTargetFiles } from "./shared-state.js";
import {
  ensureIngressToken,
  forgetSharedIngressToken,
  rollIngress,
  pushTraefikImage,
  runningIngressVersion,
  untilTraefikCatchesUp,
  traefikCaughtUp,
  type IngressResult,
} from "./ingress.js";
import {
  buildsPlatformImages,
  hasLocalRegistry,
  registryAddresses,
  registryHost,
  registryRoom,
  repositoryOf,
  repositoryPath,
} from "../plan/registry.js";
import { issuerPlatformImage } from "../plan/acme.js";
import { ageIdentity } from "../plan/age.js";
import { snapshotPlatformImage } from "../plan/cluster-snapshots.js";
import {
  pushSnapshotImage,
  scheduleClusterSnapshots,
  takesClusterSnapshots,
  type SnapshotsScheduled,
} from "./cluster-snapshots.js";
import { DigitalOceanApi } from "../digitalocean/api.js";
import { defaultVpcRange, vpcCollisions } from "../plan/vpc.js";
import { registryApi, registryCredentials, setUpLocalRegistry } from "./registry.js";
import { followVolume, pushExportImage } from "./package-data.js";
import { proveServicesServe, respreadServices } from "./services.js";
import { verifyUntilHealthy, type ClusterView } from "./verify.js";
import { withCluster } from "../cluster/connect.js";
import { readInventory } from "../cluster/inventory.js";
import { ingressTokenVariableOf } from "../plan/job-vars.js";
import { findDeadHosts, machinesGone, type DeadHost } from "../plan/dead-hosts.js";
import { judgeManagersLost, type ManagersLostEvidence } from "../plan/disaster.js";
import { forgetDeadHost } from "./retire.js";
import { pinnedVersion } from "../plan/jobs.js";
import { servesHttps } from "../plan/tls.js";
import { authorizedSshKeys } from "../config/ssh-public-key.js";
import { judgeSshKey } from "../plan/ssh-access.js";
import { agentRepository, securityRepository } from "../plan/agents.js";
import {
  applyAcmePolicies,
  issuerCa,
  pushIssuerImage,
  submitIssuerJob,
  waitForCertificates,
  waitUntilServed,
  type StoredCertificate,
} from "./acme.js";
import { waitForDns } from "./dns.js";

/** The snapshot pair restored when every manager was lost, where it was kept, what came back. */
export interface RestoredState {
  name: string;
  where: string;
  /** The jobs running in the restored state. */
  jobs: string[];
  /** Each service's certificate serial in the restored variables. */
  certificates: Array<{ service: string; serial: string }>;
}

/** What the steps share as bring-up goes. */
export interface BringUpRun {
  config: LoadedConfig;
  tf?: TerraformRunner;
  hostPlan?: HostPlan;
  planResult?: PlanResult;
  plan?: PlanSummary;
  applied?: boolean;
  secrets?: SecretsPlan;
  inventory?: Inventory;
  /** Hosts whose host key this run may pin on first contact: those it created. */
  trustOnFirstUse: Set<string>;
  /** A dry run's throwaway public key, when the key pair does not exist yet. */
  plannedPublicKey?: string;
  /** Ansible's `changed` count per host. */
  ansibleChanged?: Record<string, number>;
  view?: ClusterView;
  ingress?: IngressResult;
  /** Recorded hosts found gone: forgotten by the cluster and replaced by new hosts. */
  deadHosts?: DeadHost[];
  /**
   * Every manager lost (judgeManagersLost): new managers are made and the cluster's state is
   * restored from its newest snapshots (tasks/cluster-restore.ts) before the rest of bring-up.
   */
  managersLost?: { hosts: InventoryHost[]; why: string };
  /** The snapshot pair the lost managers' state was restored from, and what came back. */
  restoredFrom?: RestoredState;
  /** The acme-issuer job was submitted (new or changed). */
  issuerChanged?: boolean;
  certificates?: StoredCertificate[];
  /** The local registry's CA (PEM), for the hosts' Docker trust. */
  registryCa?: string;
  /** Allocations moved to spread a service again, one line each. */
  respread?: string[];
  /** Data services started on their volume's new holder (the old one was lost). */
  dataFollowed?: Array<{ service: string; holder: string; startMs: number }>;
  /** The cluster's snapshot job, as this run left it. */
  snapshots?: SnapshotsScheduled;
}

/** A field an earlier step gave (each step declares what it needs), or the runner's clear error. */
export const given = <K extends keyof BringUpRun>(run: BringUpRun, field: K) =>
  needed(run, field, "bring-up");

/** The versions elm-infra pins (src/tools/versions.json): what the hosts get. */
export async function pinnedVersions(): Promise<{
  nomad: string;
  consul: string;
  traefik: string;
}> {
  return {
    nomad: await pinnedVersion("nomad"),
    consul: await pinnedVersion("consul"),
    traefik: await pinnedVersion("traefik"),
  };
}

const terraformProgress = (step: StepHandle) => (event: TerraformEvent) => {
  const line = describeEvent(event);
  if (line) step.log(line);
};

/**
 * The local target's key pair is made here when neither half exists; production uses the
 * operator's key. An operator whose machine did not make it (the public half is the store's) logs
 * in with their own key (ELM_INFRA_SSH_KEY_FILE), never a new pair (judgeSshKey). A dry run writes
 * none: it plans with a throwaway public key and says that a pair would be made.
 */
export function ensureSshKey(options: { dryRun?: boolean } = {}): Step<BringUpRun> {
  return {
    title: "SSH key pair",
    skip: (run) =>
      run.config.target.provider === "local" ? false : "the target uses the operator's key",
    run: async (run, step) => {
      const { privateKey, targetKey, publicKey } = targetPaths(run.config);
      const decision = judgeSshKey({
        targetPrivate: await keyExists(targetKey),
        targetPublic: await keyExists(publicKey),
        operatorKey: run.config.sshKeyFile !== undefined,
      });
      if (decision.kind === "refuse")
        throw new ConfigError(
          [
            {
              file: run.config.file,
              path: `targets.${run.config.targetName}.ssh`,
              message: decision.why,
            },
          ],
          `set ${sshKeyFileEnv} to your SSH private key whose public half is your targets.${run.config.targetName}.operators[].sshKey (an operator already listed runs bring-up to authorise it); ${publicKey} is the target's and stays`,
        );
      if (decision.kind === "use") {
        step.log(
          decision.loginWith === "operator"
            ? `logging in with ${privateKey} (${sshKeyFileEnv}); the target's key is ${publicKey}`
            : `using ${targetKey}`,
        );
        return;
      }
      if (options.dryRun) {
        run.plannedPublicKey = makeKeyPair(`elm-infra ${run.config.targetName}`).public;
        step.log(`${targetKey} would be made (dry run: not written)`);
        return;
      }
      await ensureKeyPair(targetKey, `elm-infra ${run.config.targetName}`);
      step.log(`made ${targetKey} (ed25519)`);
    },
  };
}

/** OpenTofu: init, the hosts that exist, the host plan from cluster.yaml, plan, and what it does. */
export function planInfrastructure(): Step<BringUpRun> {
  return {
    title: "Plan the machines (OpenTofu)",
    gives: ["tf", "hostPlan", "planResult", "plan"],
    run: async (run, step) => {
      await planMachines(run, step);
      step.setTitle(`Plan the machines (OpenTofu): ${describePlan(given(run, "plan"))}`);
    },
  };
}

async function planMachines(run: BringUpRun, step: StepHandle): Promise<void> {
  const dead = run.deadHosts?.map((d) => d.host);
  const { tf, hostPlan } = await prepareTerraform(run.config, {
    ...(run.plannedPublicKey ? { sshPublicKey: run.plannedPublicKey } : {}),
    onEvent: terraformProgress(step),
    signal: step.signal,
    ...(dead?.length ? { replace: dead } : {}),
  });
  run.tf = tf;
  run.hostPlan = hostPlan;
  run.planResult = await tf.plan();
  run.plan = summarizePlan((await tf.showPlan(run.planResult.planFile)) as TofuPlanJson);
  step.log(describePlan(run.plan));
}

/**
 * A recorded host whose machine is gone (not running per OpenTofu's refresh, or its sshd silent
 * for a few seconds) and that Nomad/Consul report down is not recreated under its old name: it
 * is planned away and a new host (a new number) takes its place. The cluster forgets it after
 * the confirmation (forgetDeadHosts).
 */
export function lookForGoneHosts(sshDeadlineMs = 5000): Step<BringUpRun> {
  return {
    title: "Look for hosts that are gone",
    needs: ["tf", "planResult"],
    gives: ["deadHosts"],
    run: async (run, step) => {
      const inventory = await readInventory(run.config);
      if (!inventory || inventory.hosts.length === 0 || run.config.target.endpoints) {
        step.log("no host recorded yet");
        return;
      }
      const plan = (await given(run, "tf").showPlan(
        given(run, "planResult").planFile,
      )) as TofuPlanJson;
      const gone = new Set(machinesGone(plan));
      const silent = await Promise.all(
        inventory.hosts
          .filter((h) => !gone.has(h.name))
          .map(async (h) => {
            const answered = await waitForSsh({
              name: h.name,
              host: h.ssh.host,
              port: h.ssh.port,
              deadlineMs: sshDeadlineMs,
              signal: step.signal,
            }).then(
              () => true,
              // Only a host that did not answer is silent; Ctrl-C and other failures end the step.
              (error: unknown) => {
                if (error instanceof WaitTimeoutError) return false;
                throw error;
              },
            );
            return answered ? [] : [h.name];
          }),
      );
      const sshSilent = silent.flat();
      if (gone.size + sshSilent.length === 0) {
        step.log(`all ${inventory.hosts.length} hosts are there`);
        return;
      }
      const away = (h: InventoryHost) => gone.has(h.name) || sshSilent.includes(h.name);
      const managers = managersOf(inventory);
      if (managers.every(away)) {
        // No server to ask whether they are dead: decided from outside (plan/disaster.ts).
        const verdict = judgeManagersLost({
          managers: managers.map((m) => m.name),
          machinesGone: [...gone],
          sshSilent,
          serversAsked: await askServersThrough(
            run.config,
            inventory.hosts.filter((h) => !away(h)),
            step.signal,
          ),
        });
        step.log(
          `${verdict.lost ? "every manager is lost" : "the managers are not lost"}: ${verdict.why}`,
        );
        if (verdict.lost) {
          run.managersLost = { hosts: managers, why: verdict.why };
          await replanWithout(
            run,
            step,
            managers.map((m) => ({ host: m.name, why: "every manager is lost" })),
            inventory,
          );
          step.setTitle(
            `Every manager lost: ${managers.map((m) => m.name).join(", ")}, replaced by ${given(run, "hostPlan").created.join(", ")}; the cluster's state is restored from its newest snapshots`,
          );
          return;
        }
      }
      const said = await withCluster(
        run.config,
        { avoid: [...gone, ...sshSilent], signal: step.signal },
        (apis) => Promise.all([apis.consul.members(), apis.nomad.nodes()]),
      );
      const dead = findDeadHosts({
        hosts: inventory.hosts,
        plan,
        sshSilent,
        consulMembers: said[0].map((m) => ({ name: m.Name, status: m.Status })),
        nomadNodes: said[1].map((n) => ({ name: n.Name, status: n.Status })),
      });
      for (const d of dead) step.log(`${d.host} is gone: ${d.why}`);
      if (dead.length === 0) return;
      await replanWithout(run, step, dead, inventory);
      step.setTitle(
        `Hosts gone: ${dead.map((d) => d.host).join(", ")}, replaced by ${given(run, "hostPlan").created.join(", ")} (new numbers)`,
      );
    },
  };
}

/** The dead hosts planned away: OpenTofu plans again, new hosts (new numbers) in their place. */
async function replanWithout(
  run: BringUpRun,
  step: StepHandle,
  dead: DeadHost[],
  inventory: Inventory,
): Promise<void> {
  run.deadHosts = dead;
  run.inventory = inventory;
  await given(run, "tf").discardPlan(given(run, "planResult").planFile);
  await planMachines(run, step);
}

/**
 * Whether a server answers through each of `hosts`' own agents (Nomad's and Consul's leader, as
 * that host's clients see it): the evidence that every manager is lost, or not.
 */
async function askServersThrough(
  config: LoadedConfig,
  hosts: InventoryHost[],
  signal: AbortSignal,
): Promise<ManagersLostEvidence["serversAsked"]> {
  return Promise.all(
    hosts.map(async (h) => {
      try {
        const leaders = await withHostAgents(config, h, signal, async (apis) =>
          Promise.all([
            apis.nomad.leader().catch((e: unknown) => `Nomad: ${(e as Error).message}`),
            apis.consul.leader().catch((e: unknown) => `Consul: ${(e as Error).message}`),
          ]),
        );
        const leader = leaders.find((l) => /^[0-9a-f.:[\]]+:\d+$/i.test(l));
        return {
          host: h.name,
          leader: leader !== undefined,
          said: leader ? `leader ${leader}` : leaders.map((l) => l || "no leader").join("; "),
        };
      } catch (error) {
        if (signal.aborted) throw error;
        return { host: h.name, leader: false, said: (error as Error).message };
      }
    }),
  );
}

/** After the confirmation: the cluster forgets each dead host (raft peers, node, members). */
export function forgetDeadHosts(): Step<BringUpRun> {
  return {
    title: "Forget the hosts that are gone (raft peers, Nomad node, Consul member)",
    skip: (run) =>
      run.managersLost
        ? "every manager is lost: they are forgotten once the cluster's state is restored"
        : run.deadHosts?.length
          ? false
          : "no host is gone",
    run: async (run, step) => {
      const dead = given(run, "deadHosts").map((d) => d.host);
      await forgetHosts(run, step, dead, given(run, "inventory"), { hostKeys: true });
    },
  };
}

/**
 * The cluster forgets each of `hosts` (recorded in `inventory`), through the others. Their
 * pinned keys go too when `hostKeys` (before new hosts are pinned: one may take an old address).
 */
export async function forgetHosts(
  run: BringUpRun,
  step: StepHandle,
  hosts: string[],
  inventory: Inventory,
  o: { hostKeys: boolean },
): Promise<void> {
  await withCluster(run.config, { avoid: hosts, signal: step.signal }, async (apis) => {
    for (const host of hosts) {
      await forgetDeadHost({
        config: run.config,
        inventory,
        host,
        apis,
        log: (l) => step.log(l),
        signal: step.signal,
      });
      // Its machine is gone: its pinned key would only stand in a future host's way.
      const gone = inventory.hosts.find((h) => h.name === host);
      if (gone && o.hostKeys)
        await forgetHostKeys(targetPaths(run.config).knownHosts, [
          knownHostName(gone.ssh.host, gone.ssh.port),
        ]);
    }
  });
}

/** Where hosts created but not yet pinned are remembered, so a failed run's hosts stay trusted. */
const pendingTrustFile = (config: Pick<LoadedConfig, "root" | "targetName" | "target">) =>
  join(targetPaths(config).state, "hosts-to-pin.json");

/**
 * The hosts created but not yet pinned; none when the file is missing or not the list bring-up
 * wrote. Read bounded: a FIFO, a directory or a huge file there is refused (exit 2), not waited on.
 */
export async function readPendingTrust(
  config: Pick<LoadedConfig, "root" | "targetName" | "target">,
): Promise<string[]> {
  const text = await readUserFile(pendingTrustFile(config), {
    what: "list of hosts to pin",
    maxBytes: 1_000_000,
    ifMissing: "[]",
    hint: "check the file's permissions (bring-up writes it 0600 for the user who ran it)",
  });
  try {
    const hosts: unknown = JSON.parse(text);
    return Array.isArray(hosts) ? hosts.filter((h): h is string => typeof h === "string") : [];
  } catch {
    return [];
  }
}

/** The cluster's gossip keys and tokens: generated once, written (0600) before any agent starts. */
export function generateSecrets(): Step<BringUpRun> {
  return {
    title: "Cluster secrets (gossip keys, ACL tokens)",
    gives: ["secrets"],
    run: async (run, step) => {
      const { config } = run;
      const fromFile = await readSecrets(config.root, config.targetName, {});
      const plan = planClusterSecrets(
        fromFile,
        config.secrets,
        {
          uuid: () => randomUUID(),
          gossipKey: () => randomBytes(32).toString("base64"),
          registryUsername: () => `elm-registry-${randomBytes(6).toString("hex")}`,
          registryPassword: () => randomBytes(24).toString("base64url"),
          clusterSnapshotIdentity: () => ageIdentity(randomBytes(32)),
        },
        { localRegistry: hasLocalRegistry(config.target) },
      );
      for (const field of plan.generated) registerSecret(plan.effective[field]!);
      if (plan.generated.length > 0) {
        const file = await writeSecrets(config.root, config.targetName, plan.file);
        step.log(`generated ${plan.generated.join(", ")} into ${file} (mode 0600)`);
      } else step.log("every secret exists already: reused");
      run.secrets = plan;
      // Every later step (the tunnel's clients included) uses these tokens.
      run.config.secrets = { ...config.secrets, ...plan.effective };
      const shared = await shareSecretsInStore(config, run.config.secrets, plan.generated);
      if (shared) step.log(shared);
    },
  };
}

/** Applies the saved plan; the hosts it creates are remembered as trusted on first contact. */
export function applyInfrastructure(): Step<BringUpRun> {
  return {
    title: "Create the machines (OpenTofu apply)",
    needs: ["tf", "planResult"],
    gives: ["applied"],
    skip: (run) => (run.planResult?.hasChanges ? false : "nothing to change"),
    run: async (run, step) => {
      const creating = [...(run.plan?.hosts.create ?? []), ...(run.plan?.hosts.replace ?? [])];
      const pending = new Set([...(await readPendingTrust(run.config)), ...creating]);
      await writeFile(pendingTrustFile(run.config), JSON.stringify([...pending]), { mode: 0o600 });
      const tf = given(run, "tf");
      const counts = await tf.apply(given(run, "planResult").planFile);
      run.applied = true;
      step.log(`${counts.add} created, ${counts.change} changed, ${counts.remove} destroyed`);
    },
  };
}

/** The hosts as OpenTofu's outputs say, recorded in .elm-infra/<target>/inventory.json. */
export function recordInventory(): Step<BringUpRun> {
  return {
    title: "Record the hosts (inventory)",
    needs: ["tf"],
    gives: ["inventory"],
    run: async (run, step) => {
      if (run.planResult && !run.applied)
        await given(run, "tf").discardPlan(run.planResult.planFile);
      run.inventory = inventoryFromOutputs(run.config.targetName, await given(run, "tf").outputs());
      const holder = run.hostPlan?.packageDataHost;
      if (holder) run.inventory.packageDataHost = holder;
      const file = await writeInventory(run.config, run.inventory);
      step.log(`${run.inventory.hosts.length} hosts in ${file}`);
      // Said before the certificates step: the hostnames' DNS must point there for them.
      const lb = run.inventory.loadBalancer;
      if (lb)
        step.log(
          `the load balancer's address: ${lb.host} (HTTP ${lb.httpPort}, HTTPS ${lb.httpsPort})`,
        );
      run.trustOnFirstUse = new Set(await readPendingTrust(run.config));
    },
  };
}

/** Every host's sshd answers, each with its own deadline; the slow one is named. */
export function waitForHostsSsh(deadlineMs = 180_000): Step<BringUpRun> {
  return {
    title: "Wait for SSH on every host",
    needs: ["inventory"],
    run: async (run, step) => {
      await Promise.all(
        given(run, "inventory").hosts.map(async (h) => {
          const { attempts } = await waitForSsh({
            name: h.name,
            host: h.ssh.host,
            port: h.ssh.port,
            deadlineMs,
            signal: step.signal,
          });
          step.log(
            `${h.name}: sshd answers at ${h.ssh.host}:${h.ssh.port} (${attempts} attempt(s))`,
          );
        }),
      );
    },
  };
}

/**
 * Host keys: a host this run created is trusted on first contact (any stale key for its address
 * forgotten first) and pinned in ssh.knownHosts; every other host must present its pinned key.
 */
export function pinHostKeys(): Step<BringUpRun> {
  return {
    title: "Pin the hosts' keys",
    needs: ["inventory"],
    run: async (run, step) => {
      const { config } = run;
      const knownHosts = targetPaths(config).knownHosts;
      for (const h of given(run, "inventory").hosts) {
        const trust = run.trustOnFirstUse.has(h.name);
        if (trust) await forgetHostKeys(knownHosts, [knownHostName(h.ssh.host, h.ssh.port)]);
        const ssh = await connectWithRetry(
          {
            ...sshTargetFor(config, h.ssh.host, h.ssh.port),
            hostKeyPolicy: trust ? "pin-on-first-contact" : "require-pinned",
          },
          step.signal,
        );
        await ssh.close();
        step.log(`${h.name}: ${trust ? "new host, key pinned" : "pinned key matches"}`);
      }
      await rm(pendingTrustFile(config), { force: true });
    },
  };
}

/**
 * sshd may answer before the host's keys and authorized_keys are in place: a few tries, each
 * abandoned at once on Ctrl-C (its socket closed), as the wait between them.
 */
async function connectWithRetry(target: Parameters<typeof connectSsh>[0], signal: AbortSignal) {
  let refused: SshConnectError | undefined;
  try {
    return await waitFor(
      {
        what: `SSH to ${target.host}`,
        timeoutMs: 60_000,
        intervalMs: 2_000,
        maxAttempts: 10,
        signal,
      },
      async () => {
        try {
          const ssh = await connectSsh({ ...target, signal });
          // Connected after Ctrl-C ended the wait: nobody will use it.
          if (signal.aborted) await ssh.close();
          return done(ssh);
        } catch (error) {
          if (!(error instanceof SshConnectError)) throw error;
          refused = error;
          return notYet(error.message);
        }
      },
    );
  } catch (error) {
    // Out of tries: the last refusal is the error, as it was said by SSH.
    throw error instanceof WaitTimeoutError && refused ? refused : error;
  }
}

/** Runs playbooks/site.yml on every host at once; records how many changes each reported. */
export function bootstrapHosts(): Step<BringUpRun> {
  return {
    title: "Bootstrap the hosts (Ansible: base, docker, consul, nomad)",
    needs: ["inventory", "secrets"],
    gives: ["ansibleChanged"],
    run: async (run, step) => {
      run.ansibleChanged = await runSite(run, step);
      const changed = Object.entries(run.ansibleChanged).map(([h, n]) => `${h} changed=${n}`);
      step.log(changed.join(", "));
    },
  };
}

/**
 * site.yml on the inventory's hosts with the pinned agents, this run's secrets and registry:
 * every host (bring-up), or one (`limit`) and only some tasks (`tags`, as upgrade runs it).
 * Returns Ansible's `changed` count per host.
 */
export async function runSite(
  run: BringUpRun,
  step: Pick<StepHandle, "log" | "signal">,
  only: { limit?: string; tags?: string[] } = {},
): Promise<Record<string, number>> {
  const { config } = run;
  const versions = await pinnedVersions();
  const paths = targetPaths(config);
  const s = given(run, "secrets").effective;
  const local = config.target.provider === "local";
  const security = securityRepository(config.target);
  const result = await runSitePlaybook({
    hosts: playbookHosts(given(run, "inventory").hosts),
    settings: {
      target: config.targetName,
      softwareSource: local ? "local" : "official",
      agentRepository: agentRepository(config.target),
      ...(security ? { securityRepository: security } : {}),
      ...(local ? { health: FAST_HEALTH } : {}),
      consulVersion: versions.consul,
      nomadVersion: versions.nomad,
      sshdPort: config.target.ssh.port,
      authorizedKeys: authorizedSshKeys(await readSshPublicKey(config), config.target),
      ...registrySettings(run),
      ...packageDataVolume(given(run, "inventory")),
    },
    secrets: {
      consulGossipKey: s.consulGossipKey,
      consulManagementToken: s.consulToken,
      consulAgentToken: s.consulAgentToken,
      consulNomadToken: s.consulNomadToken,
      consulTraefikToken: s.consulTraefikToken,
      nomadGossipKey: s.nomadGossipKey,
      nomadManagementToken: s.nomadToken,
      ...registrySecrets(run),
    },
    privateKeyPath: paths.privateKey,
    knownHostsPath: paths.knownHosts,
    hostKeyChecking: "yes",
    ...(only.limit ? { limit: only.limit } : {}),
    ...(only.tags ? { tags: only.tags } : {}),
    onEvent: (e: AnsibleEvent) => {
      const line = describeAnsibleEvent(e);
      if (line) step.log(line);
    },
    signal: step.signal,
  });
  return Object.fromEntries(
    Object.entries(result.recap).map(([host, counts]) => [host, counts.changed]),
  );
}

/** The package data volume's holder and device, as OpenTofu attached it. */
function packageDataVolume(inventory: Inventory): Pick<SiteSettings, "packageData"> {
  const { packageDataHost: host, packageDataDevice: device } = inventory;
  return host && device ? { packageData: { host, device } } : {};
}

/** Where the workers pull from, and the CA their Docker trusts for it (the local registry's). */
function registrySettings(run: BringUpRun): Pick<SiteSettings, "registry"> {
  const addresses = registryAddresses(run.config.target.registry);
  if (!addresses) return {};
  const host = registryHost(addresses.pull);
  return { registry: run.registryCa ? { host, ca: run.registryCa } : { host } };
}

/** The workers' pull credentials (for the Nomad Docker driver's 0600 auth file). */
function registrySecrets(
  run: BringUpRun,
): Pick<SiteSecrets, "registryUsername" | "registryPassword"> {
  if (run.config.target.registry === "none") return {};
  const { username, password } = registryCredentials(run.config);
  return { registryUsername: username, registryPassword: password };
}

function describeAnsibleEvent(e: AnsibleEvent): string | undefined {
  switch (e.kind) {
    case "play":
      return `play: ${e.name}`;
    case "task": {
      // Ansible names a role's task "<role> : <task>"; say the role once.
      const name = e.role ? e.name.replace(`${e.role} : `, "") : e.name;
      return `task: ${e.role ? `${e.role}: ` : ""}${name}`;
    }
    // What the run changed, by host: the events a second run must not have (and the e2e reads).
    case "result":
      return e.status === "changed"
        ? `changed on ${e.host}: ${(e.task ?? "").replace(" : ", ": ")}${e.item ? ` (${e.item})` : ""}`
        : undefined;
    default:
      return undefined;
  }
}

/** Every check of the cluster through the tunnel, waiting (bounded) for the agents to settle. */
export function proveClusterHealthy(options: { requireIngress: boolean }): Step<BringUpRun> {
  return {
    title: options.requireIngress ? "Verify the cluster" : "Verify Nomad and Consul",
    needs: ["inventory"],
    gives: ["view"],
    run: async (run, step) => {
      const ingressCheck = (c: { name: string }) => /Traefik|load balancer/.test(c.name);
      const view = await verifyUntilHealthy(run.config, given(run, "inventory"), {
        signal: step.signal,
        log: (l) => step.log(l),
        ...(options.requireIngress ? {} : { ignore: ingressCheck }),
      });
      run.view = view;
      const failed = view.checks.filter(
        (c) => !c.ok && (options.requireIngress || !ingressCheck(c)),
      );
      if (failed.length > 0) {
        throw new OperationError(
          `the cluster is not healthy:\n${failed.map((c) => `  ${c.name}: ${c.detail}`).join("\n")}`,
          "run bring-up again to continue; elm-infra status shows the same checks",
        );
      }
      step.log(
        `${view.checks.length - (options.requireIngress ? 0 : view.checks.filter(ingressCheck).length)} checks passed`,
      );
    },
  };
}

/**
 * Every worker of the inventory takes allocations: one left ineligible or draining by a reboot,
 * scale or replace that was interrupted (Ctrl-C, a lost connection) is made eligible again.
 */
export function workersEligible(): Step<BringUpRun> {
  return {
    title: "Every worker takes allocations",
    needs: ["inventory"],
    run: async (run, step) => {
      const workers = new Set(workersOf(given(run, "inventory")).map((w) => w.name));
      const ended = await withCluster(run.config, { signal: step.signal }, async (apis) => {
        const left = (await apis.nomad.nodes()).filter(
          (n) =>
            workers.has(n.Name) &&
            n.Status === "ready" &&
            (n.SchedulingEligibility !== "eligible" || n.Drain),
        );
        for (const n of left) await apis.nomad.endDrain(n.ID);
        return left.map((n) => n.Name);
      });
      step.log(
        ended.length > 0
          ? `eligible again (an interrupted reboot, scale or replace left them out): ${ended.join(", ")}`
          : "every worker is eligible",
      );
    },
  };
}

/** Traefik on every worker: its token as a Nomad variable, its image, the node-by-node rollout. */
export function deployIngress(version?: string): Step<BringUpRun> {
  return {
    title: "Deploy the ingress (Traefik on every worker)",
    needs: ["inventory"],
    gives: ["ingress"],
    run: async (run, step) => {
      const ingress = await withCluster(run.config, { signal: step.signal }, async (apis) => {
        // The version running now stays (deploy ingress@<v> changes it); the pinned one at first.
        const v = version ?? (await runningIngressVersion(apis.nomad));
        await pushTraefikImage(run.config, v, (l) => step.log(l));
        const token =
          run.secrets?.effective.consulTraefikToken ?? run.config.secrets.consulTraefikToken;
        if (!token) throw new OperationError("no Consul token for Traefik in the secrets");
        const inventory = given(run, "inventory");
        const written = await ensureIngressToken(
          apis.nomad,
          token,
          workersOf(inventory).map((w) => w.name),
        );
        if (written.length > 0)
          step.log(
            `Traefik's Consul token written to the Nomad variables ${written.map(ingressTokenVariableOf).join(", ")}`,
          );
        const rolled = await rollIngress({
          config: run.config,
          inventory,
          nomad: apis.nomad,
          version: v,
          log: (l) => step.log(l),
          signal: step.signal,
        });
        // Every worker's Traefik reads its own variable now: the shared one is nobody's.
        if (await forgetSharedIngressToken(apis.nomad))
          step.log("the shared token variable nomad/jobs/ingress deleted");
        return rolled;
      });
      run.ingress = ingress;
      step.log(ingress.changed ? ingress.steps.join("; ") : `ingress@${ingress.version} unchanged`);
    },
  };
}

const plainHttp = (run: BringUpRun) =>
  servesHttps(run.config.target) ? false : "the target serves plain HTTP (dev agents)";

/** What the issuer may write and the ingress may read: ACL policies bound to the two jobs. */
export function certificatePolicies(): Step<BringUpRun> {
  return {
    title: "Certificates' ACL policies (issuer writes, ingress reads)",
    skip: plainHttp,
    run: async (run, step) => {
      await withCluster(run.config, { signal: step.signal }, async (apis) => {
        await applyAcmePolicies(apis.nomad);
      });
    },
  };
}

/** Before the certificates: the DNS records said, then the wait until every hostname points. */
export function pointDnsAtLoadBalancer(): Step<BringUpRun> {
  return {
    title: "DNS (every hostname points at the load balancer)",
    needs: ["inventory"],
    skip: plainHttp,
    run: (run, step) =>
      waitForDns(run.config, given(run, "inventory"), {
        signal: step.signal,
        log: (l) => step.log(l),
      }),
  };
}

/**
 * HTTPS: the CA the target trusts, the acme-issuer job, and the wait until every certificate is
 * stored where the workers' Traefik reads it.
 */
export function issueCertificates(): Step<BringUpRun> {
  return {
    title: "Certificates (the ACME issuer)",
    needs: ["inventory"],
    gives: ["certificates"],
    skip: plainHttp,
    run: async (run, step) => {
      const log = (l: string) => step.log(l);
      const ca = await issuerCa(run.config, given(run, "inventory"), log, step.signal);
      await pushIssuerImage(run.config, log);
      const certificates = await withCluster(run.config, { signal: step.signal }, async (apis) => {
        if (await submitIssuerJob(run.config, apis.nomad, ca, log)) run.issuerChanged = true;
        const stored = await waitForCertificates(run.config, apis.nomad, {
          signal: step.signal,
          log,
        });
        await waitUntilServed(run.config, given(run, "inventory"), stored, {
          signal: step.signal,
          log,
        });
        return stored;
      });
      run.certificates = certificates;
      step.setTitle(
        `Certificates (the ACME issuer): ${certificates.map((c) => `${c.spec.domains[0]} until ${c.notAfter}`).join("; ")}`,
      );
    },
  };
}

/**
 * Before any change: a registry the target does not make (DigitalOcean's) must exist, take the
 * credentials and (DigitalOcean) have room in its plan for every repository elm-infra pushes, or
 * a pull or push of the cluster would be refused later (the issuer's first).
 */
export function checkRegistry(): Step<BringUpRun> {
  return {
    title: "Check the registry (it exists, the credentials reach it, its plan has room)",
    skip: (run) =>
      run.config.target.registry === "none"
        ? "no registry"
        : hasLocalRegistry(run.config.target)
          ? "the target's own registry: bring-up makes it"
          : false,
    run: async (run, step) => {
      const addresses = registryAddresses(run.config.target.registry)!;
      const first = Object.values(run.config.services)[0]!.image;
      const api = await registryApi(run.config);
      await api.checkAccess(repositoryPath(addresses.push, first));
      step.log(`${addresses.push} takes the credentials`);
      // DigitalOcean's plans limit the repositories: every one elm-infra pushes must fit.
      const token = run.config.secrets.digitaloceanToken;
      if (run.config.target.provider !== "digitalocean" || !token) return;
      const needed = [
        ...Object.values(run.config.services).map((s) => s.image),
        repositoryOf(issuerPlatformImage(await pinnedVersion("lego")).name),
        repositoryOf(snapshotPlatformImage.name),
      ];
      const cloud = new DigitalOceanApi(token);
      const plan = await cloud.registryPlan();
      const name = repositoryPath(addresses.push, "").split("/")[0]!;
      const refusal = registryRoom(plan, needed, await cloud.registryRepositories(name));
      if (refusal)
        throw new OperationError(
          refusal,
          "move the registry to a plan with more repositories (doctl registry subscription update), or delete a repository it does not need",
        );
      step.log(`the ${plan.name} plan has room for ${needed.join(", ")}`);
    },
  };
}

/**
 * Before any change, on DigitalOcean: the new VPC's range must not overlap one the account has
 * (DigitalOcean refuses it at apply, after droplets may have been made). Said with a free range
 * to choose instead. Once the target's own VPC exists there is nothing to check.
 */
export function checkVpcRange(): Step<BringUpRun> {
  return {
    title: "Check the account (the VPC's range is free)",
    skip: (run) =>
      run.config.target.provider !== "digitalocean"
        ? "the local target makes its own network"
        : !run.config.secrets.digitaloceanToken
          ? "no DigitalOcean token (OpenTofu says so next)"
          : false,
    run: async (run, step) => {
      const wanted = run.config.target.network?.subnet ?? defaultVpcRange;
      const own = `elm-infra-${run.config.targetName}`;
      const vpcs = await new DigitalOceanApi(run.config.secrets.digitaloceanToken!).vpcs();
      if (vpcs.some((v) => v.name === own)) {
        step.log(`the target's VPC ${own} exists`);
        return;
      }
      const { overlaps, instead } = vpcCollisions(wanted, vpcs, own);
      if (overlaps.length > 0)
        throw new ConfigError(
          [
            {
              file: run.config.file,
              path: `targets.${run.config.targetName}.network.subnet`,
              message: `${wanted} overlaps ${overlaps.map((v) => `${v.name} (${v.ipRange})`).join(", ")} in the DigitalOcean account`,
            },
          ],
          instead
            ? `choose a free range, e.g. network: { subnet: ${instead} }`
            : "choose a private range no VPC of the account uses",
        );
      step.log(`${wanted} is free in the account`);
    },
  };
}

/**
 * The local target's registry (its container, iac/local): the password from the secrets file set
 * in its htpasswd, its CA recorded for this machine and the hosts' Docker.
 */
export function setUpRegistry(): Step<BringUpRun> {
  return {
    title: "The registry (password, CA)",
    needs: ["inventory"],
    gives: ["registryCa"],
    skip: (run) =>
      hasLocalRegistry(run.config.target)
        ? false
        : "the target's registry is not one of its containers",
    run: async (run, step) => {
      run.registryCa = await setUpLocalRegistry(run.config, (l) => step.log(l), step.signal);
    },
  };
}

/** The images the local target builds and its jobs pull from its registry: the backup export's. */
export function pushExportImageStep(): Step<BringUpRun> {
  return {
    title: "Push the backup export's image to the registry",
    skip: (run) =>
      !buildsPlatformImages(run.config.target)
        ? "the workers pull the official busybox image"
        : !Object.values(run.config.services).some((s) => s.data)
          ? "no service keeps data"
          : false,
    run: (run, step) => pushExportImage(run.config, (l) => step.log(l)),
  };
}

/**
 * After the machines are applied: record them, reach and pin them, bootstrap them, verify, give
 * new workers the images, roll the ingress onto them and verify again. Bring-up and scale's
 * growth run these same steps; `afterAnsible` runs right after the hosts' Ansible run (bring-up's
 * disaster recovery: the workers' clients reach the new servers before anything asks them).
 */
export function convergeHostSteps(
  o: { afterAnsible?: Step<BringUpRun>[] } = {},
): Step<BringUpRun>[] {
  return [
    recordInventory(),
    setUpRegistry(),
    waitForHostsSsh(),
    pinHostKeys(),
    bootstrapHosts(),
    ...(o.afterAnsible ?? []),
    workersEligible(),
    proveClusterHealthy({ requireIngress: false }),
    pushExportImageStep(),
    certificatePolicies(),
    deployIngress(),
    pointDnsAtLoadBalancer(),
    issueCertificates(),
    proveClusterHealthy({ requireIngress: true }),
    followPackageData(),
    spreadServices(),
    scheduleSnapshots(),
    proveServices(),
    shareTargetFiles(),
  ];
}

/**
 * The cluster's own state backed up: its image pushed, the periodic snapshot job (on a worker,
 * encrypted to the secrets' age identity) registered when it differs, and a first snapshot taken
 * when none has succeeded yet.
 */
export function scheduleSnapshots(): Step<BringUpRun> {
  return {
    title: "Schedule the cluster's snapshots (Nomad, Consul; encrypted with age)",
    needs: ["inventory"],
    gives: ["snapshots"],
    skip: (run) =>
      takesClusterSnapshots(run.config) ? false : "the dev agents on loopback: no workers",
    run: async (run, step) => {
      const log = (l: string) => step.log(l);
      await pushSnapshotImage(run.config, log);
      const scheduled = await withCluster(run.config, { signal: step.signal }, (apis) =>
        scheduleClusterSnapshots(run.config, apis, { log, signal: step.signal }),
      );
      run.snapshots = scheduled;
      step.setTitle(`The cluster's snapshots: ${scheduled.describe}`);
    },
  };
}

/**
 * A service whose allocations ended up together (a worker was away while they were placed, and
 * nothing moves them back) is spread again, one allocation at a time, without a failed request.
 */
export function spreadServices(): Step<BringUpRun> {
  return {
    title: "Spread the services over the workers",
    needs: ["inventory"],
    run: async (run, step) => {
      const moves = await withCluster(run.config, { signal: step.signal }, (apis) =>
        respreadServices(run.config, apis, {
          log: (l) => step.log(l),
          signal: step.signal,
          // The stopped allocation must leave every Traefik's routes within the job's shutdown
          // delay: after the servers were away (a restore, a manager's reboot), a Traefik may
          // not read the catalog yet (catalog-mark.ts).
          beforeFirstMove: async () => {
            const waited = await untilTraefikCatchesUp(run.config, run.inventory!, apis.consul, {
              signal: step.signal,
              serversWereAway: true,
            });
            step.log(traefikCaughtUp(waited, true));
          },
        }),
      );
      run.respread = moves;
      if (moves.length === 0) step.log("every service is spread as far as the workers allow");
    },
  };
}

/**
 * The data services where their volume is: after a lost holder, OpenTofu attached the volume to
 * another worker and Ansible mounted it there; a service still pinned to the old one starts on
 * the new holder with the data it had (no restore), proven through Traefik.
 */
export function followPackageData(): Step<BringUpRun> {
  return {
    title: "The package data's service on the volume's holder",
    needs: ["inventory"],
    run: async (run, step) => {
      const started = await withCluster(run.config, { signal: step.signal }, (apis) =>
        followVolume({
          config: run.config,
          inventory: given(run, "inventory"),
          apis,
          log: (l) => step.log(l),
          signal: step.signal,
        }),
      );
      run.dataFollowed = started;
      if (started.length === 0) step.log("every data service is where its volume is");
    },
  };
}

/** Bring-up's last word: it never ends well while a deployed service is down. */
export function proveServices(): Step<BringUpRun> {
  return {
    title: "Verify the services serve",
    needs: ["inventory"],
    run: async (run, step) => {
      const serving = await withCluster(run.config, { signal: step.signal }, (apis) =>
        proveServicesServe(run.config, apis, { signal: step.signal }),
      );
      step.log(serving.length > 0 ? `serving: ${serving.join(", ")}` : "no service deployed yet");
    },
  };
}

/** What changed in this run, for the summary's last line. */
export function changesOf(run: BringUpRun): string[] {
  const out: string[] = [];
  for (const d of run.deadHosts ?? [])
    out.push(`${d.host} was gone (${d.why}): forgotten and replaced by a new host`);
  if (run.restoredFrom)
    out.push(
      `every manager was lost: new managers hold the cluster's state again, restored from ${run.restoredFrom.name} (${run.restoredFrom.where})`,
    );
  if (run.applied && run.plan) out.push(`machines: ${describePlan(run.plan)}`);
  const generated: GeneratedSecretField[] = run.secrets?.generated ?? [];
  if (generated.length > 0) out.push(`secrets generated: ${generated.join(", ")}`);
  const changedHosts = Object.entries(run.ansibleChanged ?? {}).filter(([, n]) => n > 0);
  if (changedHosts.length > 0)
    out.push(`Ansible changed ${changedHosts.map(([h, n]) => `${h} (${n})`).join(", ")}`);
  if (run.ingress?.changed) out.push(`ingress: ${run.ingress.steps.join("; ")}`);
  if (run.issuerChanged) out.push("acme-issuer job submitted");
  if (run.snapshots?.changed) out.push(`cluster snapshots scheduled (${run.snapshots.describe})`);
  for (const m of run.respread ?? []) out.push(`spread again: ${m}`);
  for (const f of run.dataFollowed ?? [])
    out.push(
      `${f.service} started on ${f.holder}, where its data volume is now (${(f.startMs / 1000).toFixed(1)} s)`,
    );
  return out;
}
