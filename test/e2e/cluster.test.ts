/**
 * End to end, on ONE local cluster per run (issue 10): host containers brought up by the real
 * CLI (OpenTofu, Ansible, Nomad, Consul, Traefik, the load balancer), its scenarios in sequence,
 * destructive ones last. The target has a unique name, its own subnet and ports, in a temporary
 * copy of cluster.yaml; everything it made carries the label elm-infra.target=<name>. Its shared
 * state (issue 23) is in a real S3-compatible store (versitygw on loopback) started before it:
 * OpenTofu's state, the operations lock as a lease, the cluster secrets encrypted with age to the
 * two operators listed, the inventory, host keys and roots, the backups' copies; `destroy`
 * leaves the store. The second operator's working copy (support.ts's secondCopy) runs the
 * host-loss scenario (scenarios/scale.ts) from another folder with its own keys.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { connectToCluster } from "../../src/cluster/connect.js";
import { detachVolumes, makeLocalTarget, removeLabelled } from "../harness/local-target.js";
import { startObjectStore } from "../harness/object-store.js";
import { ageIdentity, ageRecipient } from "../../src/plan/age.js";
import { decryptWithIdentity } from "../../src/age/client.js";
import { parseEnvelope, sharedSecretsKey } from "../../src/plan/shared-secrets.js";
import { leaseKey } from "../../src/store/lease.js";
import { storeStateKey } from "../../src/terraform/backend.js";
import { backupKey, sha256Metadata } from "../../src/plan/offsite.js";
import { sha256OfFile } from "../../src/tasks/offsite.js";
import type { BringUpResult } from "../../src/commands/bring-up.js";
import type { DestroyResult } from "../../src/commands/destroy.js";
import type { IngressDeployResult } from "../../src/commands/deploy-ingress.js";
import type { ClusterView } from "../../src/tasks/verify.js";
import { canaryEntrypointPort } from "../../src/traefik/canary.js";
import { clusterSecretFields } from "../../src/plan/secrets.js";
import { pinnedVersion } from "../../src/plan/jobs.js";
import { retireScenarios } from "./scenarios/retire.js";
import { badInputScenarios } from "./scenarios/bad-input.js";
import {
  agentPids,
  bothSitesAt100,
  clearRecord,
  deployFromFixtures,
  docker,
  e2e,
  e2eStoreClient,
  elmInfra,
  ensureDeployed,
  errorOf,
  hostNames,
  label,
  failedRequestsOf,
  makeRecordWhenAsked,
  noFailures,
  underProbe,
  resultOf,
  runOf,
  runsIn,
  secretsFile,
  start,
  viaLoadBalancer,
} from "./support.js";
import { probeScenarios } from "./scenarios/probe.js";
import { logsExecScenarios } from "./scenarios/logs-exec.js";
import { historyScenarios } from "./scenarios/history.js";
import { rotationScenarios } from "./scenarios/rotation.js";
import { secretsAfterDestroyScenarios, secretsScenarios } from "./scenarios/secrets.js";
import { dataScenarios } from "./scenarios/data.js";
import { rebootAllScenario, rebootScenarios } from "./scenarios/reboots.js";
import { upgradeScenarios } from "./scenarios/upgrade.js";
import {
  httpsAfterRestartScenarios,
  httpsRenewalScenarios,
  httpsScenarios,
} from "./scenarios/https.js";
import { zeroDowntimeScenarios } from "./scenarios/zero-downtime.js";
import { registryScenarios } from "./scenarios/registry.js";
import { hostLossScenarios, replaceScenarios, scaleScenarios } from "./scenarios/scale.js";
import { newServiceScenarios } from "./scenarios/new-service.js";
import { clusterSnapshotScenarios } from "./scenarios/cluster-snapshots.js";
import { disasterRecoveryScenarios } from "./scenarios/disaster.js";

const { target } = e2e;
const wwwSite = "www.elm-lang.org";
/** The ingress version the upgrade scenario tags: this run's own, so two runs never share it. */
const ingressUpgrade = `3.6.12-${target}`;

/** The pids under `pid`, children first found by `ps --ppid`, recursively. */
async function descendants(pid: number): Promise<Array<{ pid: number; comm: string }>> {
  const ps = await execa("ps", ["-o", "pid=,comm=", "--ppid", String(pid)], { reject: false });
  const children = String(ps.stdout)
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const [p, comm] = l.trim().split(/\s+/);
      return { pid: Number(p), comm: comm ?? "" };
    });
  const deeper = await Promise.all(children.map((c) => descendants(c.pid)));
  return [...children, ...deeper.flat()];
}

async function killAnsibleUnder(cliPid: number): Promise<void> {
  const kill = (pid: number) => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  };
  const ansible = (await descendants(cliPid)).filter((p) => p.comm.startsWith("ansible"));
  for (const p of ansible) {
    for (const d of await descendants(p.pid)) kill(d.pid);
    kill(p.pid);
  }
}

/**
 * The target's two operators (issue 23): the first working copy's (e2e.work, which brings the
 * target up and keeps the secrets file) and a second one's, with an SSH key of their own
 * authorised by bring-up, who reads the cluster secrets from the store with their age identity.
 */
async function makeOperators(keys: string) {
  const operator = (name: string) => {
    const identity = ageIdentity(randomBytes(32));
    return { name, identity, recipient: ageRecipient(identity) };
  };
  e2e.operators = [operator("first"), operator("second")];
  const sshKey = join(keys, "second_ed25519");
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "second", "-f", sshKey]);
  return { sshKey, sshPublicKey: await readFile(`${sshKey}.pub`, "utf8") };
}

/**
 * A working copy of the second operator: another folder holding cluster.yaml (a copy, as a
 * checkout of the same repository has it; support.ts's pullConfig brings later changes across)
 * and the repository's jobs/ and images/, its .elm-infra/ empty; it runs as CI does (no
 * terminal, GITHUB_ACTOR), with the store's access key, its own age identity and its own SSH key.
 */
async function makeSecondOperatorCopy(name: string): Promise<typeof e2e.second> {
  const work = await mkdtemp(join(tmpdir(), `elm-infra-${target}-${name}-`));
  for (const dir of ["jobs", "images"]) await symlink(join(e2e.work, dir), join(work, dir));
  const config = join(work, "cluster.yaml");
  await cp(e2e.config, config);
  return {
    work,
    config,
    env: {
      GITHUB_ACTOR: "second-operator",
      ELM_INFRA_AGE_IDENTITY: e2e.operators[1]!.identity,
      ELM_INFRA_SSH_KEY_FILE: secondSshKey,
    },
  };
}

let keys = "";
let secondSshKey = "";

beforeAll(async () => {
  // The store first: the target's state lives there before the target exists.
  e2e.store = await startObjectStore();
  e2e.env = {
    AWS_ACCESS_KEY_ID: e2e.store.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: e2e.store.credentials.secretAccessKey,
  };
  keys = await mkdtemp(join(tmpdir(), `elm-infra-${target}-operators-`));
  const { sshKey, sshPublicKey } = await makeOperators(keys);
  secondSshKey = sshKey;
  const local = await makeLocalTarget(target, {
    store: e2e.store,
    operators: [
      { name: "first", ageRecipient: e2e.operators[0]!.recipient },
      { name: "second", ageRecipient: e2e.operators[1]!.recipient, sshKey: sshPublicKey },
    ],
    managers: 1,
    workers: 2,
    slot: randomBytes(1)[0]! % 40,
    subnetBase: 150,
    sshBase: 30_000,
    // Short certificates renewed early: each is due 200 s after its issuance (700 s left of 900),
    // so one renewal falls within the run, awaited after the zero-downtime set (scenarios/https.ts),
    // when the scenarios since the issuance have taken about as long. The check that the ingress
    // upgrade issued none comes ~2 minutes after the issuance. A renewal stalled for minutes (the
    // issuers' lock kept while managers come and go in scale and replace) still ends long before
    // expiry: with 5-minute certificates renewed at a third, 100 s of stall let one expire (CI of
    // 2026-12-06). The services' health checks run every second (production: 5 s): a new
    // allocation is healthy, and a deploy done, sooner.
    acme: "{ certificateLifetime: 900s, renewBefore: 700s }",
    ...(process.env.ELM_INFRA_E2E_HOST_IMAGE
      ? { image: process.env.ELM_INFRA_E2E_HOST_IMAGE }
      : {}),
    services: `  elm-lang.org:
    job: jobs/elm-lang.org.nomad.hbs
    image: elm-lang.org
    hostnames: [elm-lang.org, www.elm-lang.org]
    healthPath: /health
    port: 8080
    count: 2
    resources: { cpu: 50, memory: 64 }
    checkInterval: 1s
    update: { minHealthyTime: 2s, healthyDeadline: 30s, progressDeadline: 60s }
  package.elm-lang.org:
    job: jobs/package.elm-lang.org.nomad.hbs
    image: package.elm-lang.org
    hostnames: [package.elm-lang.org]
    healthPath: /health
    port: 8080
    count: 1
    resources: { cpu: 50, memory: 64 }
    checkInterval: 1s
    update: { minHealthyTime: 2s, healthyDeadline: 30s, progressDeadline: 60s }
    data: { volume: package-data, mountPath: /data }
`,
  });
  e2e.work = local.work;
  e2e.config = local.config;
  e2e.httpPort = local.httpPort;
  e2e.httpsPort = local.httpsPort;
  e2e.second = await makeSecondOperatorCopy("second");
});

afterAll(async () => {
  // Whatever a failed scenario left: by label, never by name patterns of others.
  await removeLabelled(target);
  await execa("docker", ["rmi", `traefik:v${ingressUpgrade}`], { reject: false });
  if (e2e.work) await detachVolumes(e2e.work, target);
  if (e2e.work) await rm(e2e.work, { recursive: true, force: true });
  for (const copy of [e2e.second, e2e.ciCopy])
    if (copy.work) await rm(copy.work, { recursive: true, force: true });
  if (keys) await rm(keys, { recursive: true, force: true });
  // destroy leaves the store; the run's own is stopped here, with its folder
  await e2e.store?.stop();
  console.log(
    `e2e ${target} timings (s): ${JSON.stringify(Object.fromEntries(Object.entries(e2e.timings).map(([k, v]) => [k, Math.round(v / 100) / 10])))}`,
  );
});

/**
 * destroy leaves the store (issue 23) and forgets there what it forgets here: no inventory,
 * trusted roots or lease; no pinned host key; the secrets object holds none of the cluster's
 * (decrypted with the second operator's identity), the snapshots' identity kept; OpenTofu's state
 * there manages nothing; the backups' off-site copies are still there, destroy's last one with them.
 */
async function expectStoreForgets(lastBackup: {
  file: string;
  offsite: string | null;
}): Promise<void> {
  const client = e2eStoreClient();
  try {
    const keys = await client.list();
    // destroy's last backup is there too, the very file kept here (its SHA-256 with it)
    expect(lastBackup.offsite).toBe(backupKey("package.elm-lang.org", lastBackup.file));
    const head = await client.head(lastBackup.offsite!);
    expect(head?.metadata[sha256Metadata]).toBe(await sha256OfFile(lastBackup.file));
    for (const gone of ["files/inventory.json", "files/ca.pem", leaseKey])
      expect(keys).not.toContain(gone);
    expect(keys).toEqual(expect.arrayContaining([storeStateKey, sharedSecretsKey]));
    expect(keys.some((k) => k.startsWith("backups/package.elm-lang.org/"))).toBe(true);
    expect((await client.get("files/known_hosts"))?.body ?? "").not.toMatch(/ssh-/);
    const state = JSON.parse((await client.get(storeStateKey))!.body) as {
      resources: Array<{ mode: string }>;
    };
    expect(state.resources.filter((r) => r.mode === "managed")).toEqual([]);
    const envelope = parseEnvelope((await client.get(sharedSecretsKey))!.body);
    if ("problem" in envelope) throw new Error(envelope.problem);
    const kept = JSON.parse(
      await decryptWithIdentity(envelope.age, e2e.operators[1]!.identity),
    ) as Record<string, string>;
    for (const field of clusterSecretFields) expect(Object.keys(kept)).not.toContain(field);
    expect(Object.keys(kept)).toContain("clusterSnapshotIdentity");
  } finally {
    client.close();
  }
}

describe(`local cluster ${target}`, () => {
  it("bring-up interrupted in Ansible after the ACL bootstrap began, run again: completes with no duplicated host, the same tokens, every check passed", async () => {
    const began = Date.now();
    const first = start(["bring-up", "--yes"]);
    let killed = false;
    let stdout = "";
    first.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (killed || !/task: nomad: Bootstrap Nomad's ACLs/.test(stdout)) return;
      killed = true;
      // Ansible is the CLI's child: kill it and its forks (by pid), not the CLI.
      void killAnsibleUnder(first.pid!);
    });
    const interrupted = await first;
    e2e.timings["bring-up (interrupted)"] = Date.now() - began;
    // What it said, when it ended before Ansible got there.
    expect(killed, String(interrupted.stderr).slice(-2000)).toBe(true);
    expect(interrupted.exitCode).toBe(1);
    // Issue 20: the agents came by production's tasks (apt, from the target's signed stand-in for
    // HashiCorp's repository), held at the pinned versions, on every host.
    for (const host of ["manager-1", "worker-1", "worker-2"].map((h) => `${target}-${h}`)) {
      for (const task of [
        "base: Add HashiCorp's apt repository",
        "consul: Install Consul from HashiCorp's apt repository",
        "nomad: Install Nomad from HashiCorp's apt repository",
      ])
        expect(stdout).toContain(`changed on ${host}: ${task}`);
      for (const agent of ["consul", "nomad"]) {
        const version = await pinnedVersion(agent);
        const show = ["dpkg-query", "--show", "--showformat=${Version} ${Status}", agent];
        expect(await docker("exec", host, ...show)).toBe(`${version}-1 hold ok installed`);
        expect(await docker("exec", host, `/usr/bin/${agent}`, "version")).toContain(`v${version}`);
      }
    }
    const tokensBefore = await secretsFile();
    expect(tokensBefore).toMatch(/nomadToken: "[0-9a-f-]{36}"/);
    const hostsBefore = await hostNames();

    const again = await elmInfra(["bring-up", "--yes"]);
    expect(again.exitCode, errorOf(again)).toBe(0);
    const data = resultOf<BringUpResult>(again);
    expect(data.plan?.unchanged).toBe(true);
    expect(await secretsFile()).toBe(tokensBefore);
    expect(await hostNames()).toBe(hostsBefore);
    expect(hostsBefore.split("\n")).toHaveLength(3);
    const failed = data.cluster!.checks.filter((c) => !c.ok);
    expect(failed).toEqual([]);
    expect(data.cluster!.hosts.map((h) => h.name)).toEqual([
      `${target}-manager-1`,
      `${target}-worker-1`,
      `${target}-worker-2`,
    ]);
  });

  it("both sites, built from the fixtures and deployed, answer through the load balancer on 127.0.0.1", async () => {
    const site = await deployFromFixtures("elm-lang.org", "1.0.0");
    expect(site.exitCode, errorOf(site)).toBe(0);
    // The package site's Go server is built here (support.ts's buildContext), then deployed.
    const packages = await deployFromFixtures("package.elm-lang.org", "1.0.0");
    expect(packages.exitCode, errorOf(packages)).toBe(0);
    expect(await viaLoadBalancer("elm-lang.org", "/")).toBe(200);
    expect(await viaLoadBalancer("package.elm-lang.org", "/health")).toBe(200);
  });

  // Issue 13: HTTPS from the target's Pebble, right after the first issuance.
  httpsScenarios();

  it("an ingress upgrade under the probe (both sites, through the load balancer) fails no request", async () => {
    await ensureDeployed(bothSitesAt100);
    const version = ingressUpgrade;
    await docker("tag", "traefik:v3.6.12", `traefik:v${version}`);
    // The CLI run never throws (it reports its exit code): the probes always stop.
    const { value: r, reports } = await underProbe(() =>
      elmInfra(["deploy", `ingress@${version}`, "--yes"]),
    );
    expect(r.exitCode, errorOf(r)).toBe(0);
    expect(resultOf<IngressDeployResult>(r).steps).toHaveLength(2);
    for (const report of reports) expect(report.sent).toBeGreaterThan(100);
    expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
    const status = await elmInfra(["status"]);
    expect(resultOf<{ cluster: ClusterView }>(status).cluster.versions.traefik).toBe(version);
  });

  // Every worker's Traefik was just replaced: the same certificates, no new issuance; then the
  // renewal watch starts (awaited after the zero-downtime set). The upgrade comes right after the
  // first issuance, before the second bring-up: the check that it issued none is well before the
  // renewal, and the scenarios after it fill the time until the renewal is due.
  httpsAfterRestartScenarios();

  // Two bring-ups started at once serve four proofs: the one that takes the lease changes
  // nothing; the other, from the second operator's CI checkout (issue 23), is refused naming it;
  // and the one that runs meets a hostname with no A record (issue 21: as a user who never made
  // it), names it and waits until the test makes it.
  it("two bring-ups started at once, from two working copies: exactly one applies, the other exits 3 naming it; the one that ran changes nothing (OpenTofu plans nothing, Ansible changed=0 on every host, no agent restarted), names www.elm-lang.org's missing A record and waits until the test makes it", async () => {
    const pids = await agentPids();
    await clearRecord(wwwSite);
    e2e.ciCopy = await makeSecondOperatorCopy("ci");
    const began = Date.now();
    const running = [
      start(["bring-up", "--yes"]),
      start(["bring-up", "--yes"], undefined, runsIn(e2e.ciCopy)),
    ];
    const who = ["(?!second-operator)[^ ]+", "second-operator \\(CI\\)"];
    // Whichever takes the lease asks for the record; the other ends without asking.
    const asked = Promise.any(running.map((r) => makeRecordWhenAsked(r, wwwSite)));
    asked.catch(() => undefined); // awaited below, once both have ended
    const runs = (await Promise.all(running)).map(runOf);
    e2e.timings["bring-up (two at once)"] = Date.now() - began;
    const applied = runs.findIndex((r) => r.exitCode === 0);
    expect(applied, runs.map(errorOf).join("\n")).toBeGreaterThanOrEqual(0);
    const refused = runs[1 - applied]!;
    expect(refused.exitCode, errorOf(refused)).toBe(3);
    // the lease in the store (issue 23): who and on which machine, since when, which target
    expect(errorOf(refused)).toMatch(
      new RegExp(
        `bring-up refused: bring-up by ${who[applied]} .*on .+ \\(since \\d{4}-.+\\) holds the operations lock of target ${target}`,
      ),
    );
    console.log(
      `two bring-ups at once: the ${applied === 0 ? "first" : "second operator's CI"} copy's applied`,
    );
    const said = await asked;
    const r = runs[applied]!;
    expect(said).toMatch(
      /DNS does not point this hostname at the load balancer \(10\.[0-9.]+\) yet:/,
    );
    expect(said).toContain(`${wwwSite}: no A record`);
    expect(said).toMatch(
      /then: bring-up makes these records with OpenTofu.*www\.elm-lang\.org\. A 10\./,
    );
    expect(r.events.map((e) => JSON.stringify(e)).join("\n")).toMatch(
      /DNS points .*www\.elm-lang\.org/,
    );
    const data = resultOf<BringUpResult>(r);
    expect(data.outcome).toBe("unchanged");
    expect(data.plan?.unchanged).toBe(true);
    expect(Object.values(data.ansibleChanged)).toEqual([0, 0, 0]);
    expect(await agentPids()).toEqual(pids);
  });

  it("ACLs refuse anonymous requests, gossip is encrypted, and no host's API answers another address", async () => {
    const loaded = await loadConfig({ file: e2e.config, target, env: {} });
    const apis = await connectToCluster({ ...loaded, secrets: {} });
    try {
      await expect(apis.nomad.nodes()).rejects.toThrow(/permission denied|403/i);
      await expect(apis.consul.readKey("elm-infra/e2e")).rejects.toThrow(/permission denied|403/i);
    } finally {
      await apis.close();
    }
    const managed = await connectToCluster(loaded);
    try {
      const keyring = await managed.consul.keyring();
      expect(keyring.length).toBeGreaterThan(0);
      for (const pool of keyring) expect(Object.keys(pool.Keys).length).toBeGreaterThan(0);
      expect(Object.keys(await managed.nomad.gossipKeys()).length).toBeGreaterThan(0);
    } finally {
      await managed.close();
    }
    // A container on the cluster's network that is not a host: every API port, and the canary
    // entrypoint, is closed to it.
    const ips = (await hostNames())
      .split("\n")
      .map(async (n) =>
        docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", n),
      );
    const probes = (await Promise.all(ips)).flatMap((ip) =>
      [4646, 8500, 8081, canaryEntrypointPort].map((p) => `${ip}:${p}`),
    );
    // All at once (each in the background, then wait): a dropped port costs its 2 s timeout once.
    const script = `${probes
      .map(
        (a) =>
          `(if wget -q -T 2 -O /dev/null http://${a}/ 2>/dev/null; then echo "${a} open"; else echo "${a} closed"; fi) &`,
      )
      .join(" ")} wait`;
    const out = await docker(
      "run",
      "--rm",
      "--network",
      `${target}-net`,
      "--label",
      `elm-infra.target=${target}`,
      "elm-infra/tiny:latest",
      "sh",
      "-c",
      script,
    );
    expect(out.split("\n").filter((l) => l.endsWith("open"))).toEqual([]);
    expect(out.split("\n")).toHaveLength(probes.length);
  });

  // Issue 11 onwards: scenario modules (scenarios/*.ts), called here in order, destructive last.
  registryScenarios();
  zeroDowntimeScenarios();
  httpsRenewalScenarios();
  badInputScenarios();
  clusterSnapshotScenarios();
  secretsScenarios();
  probeScenarios();
  logsExecScenarios();
  historyScenarios();
  rotationScenarios();
  dataScenarios();
  rebootScenarios();
  rebootAllScenario();
  upgradeScenarios();
  retireScenarios();
  scaleScenarios();
  replaceScenarios();
  hostLossScenarios();
  disasterRecoveryScenarios();
  newServiceScenarios();

  it("destroy takes a last backup of the package data first, here and in the store, and names it; then leaves no container, network or volume, and forgets the host keys and tokens, here and in the target's store, which it leaves", async () => {
    const r = await elmInfra(["destroy", "--yes"]);
    expect(r.exitCode, errorOf(r)).toBe(0);
    const { lastBackups, dataDeleted } = resultOf<DestroyResult>(r);
    expect(dataDeleted).toEqual([]);
    expect(lastBackups.map((b) => b.service)).toEqual(["package.elm-lang.org"]);
    const [last] = lastBackups;
    expect(last!.file).toContain(join(".elm-infra", e2e.target, "backups"));
    expect(Date.parse(last!.recoveryPoint)).toBeGreaterThan(Date.now() - 300_000);
    // The packages the data scenarios published are in it.
    const listing = String((await execa("tar", ["-tzf", last!.file])).stdout);
    expect(listing).toMatch(/alice\/pkg1\/1\.0\.1\/elm\.json/);
    expect(await docker("ps", "-aq", "--filter", label())).toBe("");
    expect(await docker("network", "ls", "-q", "--filter", label())).toBe("");
    expect(await docker("volume", "ls", "-q", "--filter", label())).toBe("");
    expect(await readFile(join(e2e.work, ".elm-infra", target, "known_hosts"), "utf8")).not.toMatch(
      /ssh-/,
    );
    // The cluster's own secrets are forgotten; the user's (the audit planted some) are kept.
    const left = await secretsFile();
    for (const field of clusterSecretFields) expect(left).not.toContain(`${field}:`);
    // The roots of the Pebble that is gone are no longer trusted.
    await expect(readFile(join(e2e.work, ".elm-infra", target, "ca.pem"))).rejects.toThrow(
      /ENOENT/,
    );
    await expectStoreForgets(last!);
  });

  secretsAfterDestroyScenarios();
});
