/**
 * Issue 12's bad-input suite on the shared cluster: one table of what a user can get wrong (the
 * command line, cluster.yaml, the secrets, versions, template values) and of a world that goes
 * wrong (Nomad or Consul down or silent, SSH refused, a changed host key, a missing or wrong token,
 * a lock held, Nomad refusing the job, a registry refusing a push). Every case runs the real CLI
 * and ends with its documented exit code, a message saying what is wrong, no secret in the output,
 * and the cluster as it was: each job's version, the host containers, the inventory and the pinned
 * host keys compared with a snapshot taken before the first case.
 */
import { randomUUID } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { parseDocument } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectToCluster, type ClusterApis } from "../../../src/cluster/connect.js";
import { acquireOperationsLock } from "../../../src/cluster/operations-lock.js";
import { targetPaths } from "../../../src/cluster/paths.js";
import { loadConfig, type LoadedConfig } from "../../../src/config/load.js";
import { acquireLock, deployLockKey, lockHolder } from "../../../src/consul/lock.js";
import { startRegistry, type LocalRegistry } from "../../harness/registry.js";
import { docker, e2e, elmInfra, errorOf, label, repo, type Run } from "../support.js";

type YamlPath = Array<string | number>;

interface BadInputCase {
  name: string;
  args: string[];
  /** Changes to a copy of cluster.yaml (bad/cluster.yaml), run with --config on the copy. */
  cluster?: Array<[YamlPath, unknown]>;
  /** The copy's text instead, made from the shared cluster.yaml's. */
  clusterText?: (text: string) => string;
  /** The copy's secrets file instead, made from the shared one's. */
  secrets?: (text: string) => string;
  env?: Record<string, string>;
  /** --config and --target instead of the shared cluster's. */
  config?: string;
  target?: string;
  /** Breaks the world before the run; what it returns puts it back (and waits until healthy). */
  breakWorld?: (folder: string) => Promise<() => Promise<void>>;
  exitCode: number;
  message: RegExp;
  /** A value that must appear nowhere in the output (a wrong token, a password). */
  secret?: string;
  timeoutMs?: number;
}

const site = join(repo, "test/fixtures/sites/elm-lang.org/site");
const deploy = (version: string) => ["deploy", `elm-lang.org@${version}`, "--yes"];
const wrongToken = randomUUID();
const wrongPassword = `wrong-${randomUUID()}`;

/** The shared cluster as the suite found it; every case must leave it so. */
interface Snapshot {
  jobs: Record<string, number>;
  containers: string;
  inventory: string;
  knownHosts: string;
}

let config: LoadedConfig;
let apis: ClusterApis;
let registry: LocalRegistry;
let before: Snapshot;
/** Each case's own folder for its copies of cluster.yaml and the secrets: cases run at once. */
const bad = () => join(e2e.work, "bad-input");
const manager = () => `${e2e.target}-manager-1`;

async function snapshot(): Promise<Snapshot> {
  const paths = targetPaths(config);
  const jobs = await apis.nomad.jobsWithPrefix("");
  return {
    jobs: Object.fromEntries(jobs.map((j) => [j.ID, j.JobModifyIndex])),
    containers: await docker("ps", "-a", "--filter", label(), "--format", "{{.ID}} {{.Names}}"),
    inventory: await readFile(join(paths.state, "inventory.json"), "utf8").catch(() => ""),
    knownHosts: await readFile(paths.knownHosts, "utf8"),
  };
}

/** Runs `work` until it resolves, every 500 ms, for at most `ms`. */
async function until<T>(what: string, ms: number, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`${what} after ${attempt} tries: ${error}`, { cause: error });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const inManager = (...args: string[]) => docker("exec", manager(), ...args);
const mainPid = async (unit: string) =>
  inManager("systemctl", "show", "-p", "MainPID", "--value", unit);

/** Nomad has a leader and lists the jobs; Consul has a leader and serves the KV. */
async function healthy(): Promise<void> {
  await until("Nomad and Consul answer again", 60_000, async () => {
    await apis.nomad.leader();
    await apis.nomad.jobsWithPrefix("");
    await apis.consul.readKey("elm-infra/bad-input");
  });
}

/** Stops a systemd unit on the manager; puts it back and waits for the cluster's health. */
const stopUnit = (unit: string) => async () => {
  await inManager("systemctl", "stop", unit);
  return async () => {
    await inManager("systemctl", "start", unit);
    await healthy();
  };
};

/** SIGSTOPs a unit's main process on the manager: it accepts connections and never answers. */
const silence = (unit: string) => async () => {
  const pid = await mainPid(unit);
  await inManager("kill", "-STOP", pid);
  return async () => {
    await inManager("kill", "-CONT", pid);
    await healthy();
  };
};

/** What a user can get wrong: read-only refusals, run several at once. */
const inputCases: BadInputCase[] = [
  // ---- the command line ----
  {
    name: "an unknown command",
    args: ["frobnicate"],
    exitCode: 2,
    message: /unknown command 'frobnicate'/,
  },
  {
    name: "an unknown option",
    args: ["deploy", "elm-lang.org@1.0.1", "--frobnicate"],
    exitCode: 2,
    message: /unknown option '--frobnicate'/,
  },
  {
    name: "deploy without its argument",
    args: ["deploy", "--yes"],
    exitCode: 2,
    message: /missing required argument 'service@version'/,
  },
  {
    name: "deploy without --yes and no terminal",
    args: ["deploy", "elm-lang.org@1.0.1"],
    exitCode: 2,
    message: /this would deploy elm-lang\.org@1\.0\.1 \(now 1\.0\.0\).+no one is here to confirm/,
  },
  {
    name: "deploy of an unknown service",
    args: deploy("1.0.1").map((a) => a.replace("elm-lang.org", "nope.org")),
    exitCode: 2,
    message: /unknown service "nope\.org"/,
  },
  {
    name: "an unknown target",
    args: ["status"],
    target: "nope",
    exitCode: 2,
    message: /unknown target "nope"/,
  },
  {
    name: "a missing cluster.yaml",
    args: ["status"],
    config: "/nonexistent/cluster.yaml",
    exitCode: 2,
    message: /\/nonexistent\/cluster\.yaml/,
  },
  {
    name: "deploy --build without --context",
    args: ["deploy", "elm-lang.org@1.0.1", "--build", "--yes"],
    exitCode: 2,
    message: /missing --context: the folder holding elm-lang\.org's build output/,
  },
  {
    name: "deploy --build from a missing context",
    args: ["deploy", "elm-lang.org@1.0.1", "--build", "--context", "/nonexistent/site", "--yes"],
    exitCode: 2,
    message: /\/nonexistent\/site/,
  },
  {
    name: "status of an unknown service",
    args: ["status", "nope.org"],
    exitCode: 2,
    message: /unknown service "nope\.org"/,
  },
  {
    name: "rollback of an unknown service",
    args: ["rollback", "nope.org", "--yes"],
    exitCode: 2,
    message: /unknown service "nope\.org"/,
  },
  {
    name: "rollback to a version never deployed",
    args: ["rollback", "elm-lang.org@9.9.9", "--yes"],
    exitCode: 2,
    message:
      /no earlier job version of elm-lang\.org ran 9\.9\.9\nversions Nomad still knows: 1\.0\.0/,
  },
  {
    name: "probe of a hostname no service serves",
    args: ["probe", "nope.org"],
    exitCode: 2,
    message: /unknown hostname "nope\.org": no service of target [\w-]+ serves it/,
  },
  {
    name: "probe with a negative --seconds",
    args: ["probe", "elm-lang.org", "--seconds", "-1"],
    exitCode: 2,
    message: /--seconds/,
  },
  {
    name: "scale to an even number of managers",
    args: ["scale", "--managers", "2", "--yes"],
    exitCode: 2,
    message: /cannot scale target [\w-]+ to 2 managers: .+ need an odd number/,
  },
  {
    name: "replace of a host that is not in the target",
    args: ["replace", "nope-host-1", "--yes"],
    exitCode: 2,
    message: /nope-host-1/,
  },
  {
    name: "backup of a service without data",
    args: ["backup", "elm-lang.org"],
    exitCode: 2,
    message: /elm-lang\.org keeps no data on a volume\nservices with data: package\.elm-lang\.org/,
  },
  {
    name: "restore from a missing file",
    args: ["restore", "package.elm-lang.org", "/nonexistent/backup.tar.gz", "--yes"],
    exitCode: 2,
    message: /\/nonexistent\/backup\.tar\.gz/,
  },

  // ---- versions ----
  {
    name: "a version left empty",
    args: deploy(""),
    exitCode: 2,
    message: /invalid version "": a version is an image tag/,
  },
  {
    name: "a version with a path in it",
    args: deploy("../../etc/passwd"),
    exitCode: 2,
    message: /invalid version "\.\.\/\.\.\/etc\/passwd": a version is an image tag/,
  },
  {
    name: "a version with a shell command in it",
    args: deploy("1.0.0;rm -rf /"),
    exitCode: 2,
    message: /invalid version "1\.0\.0;rm -rf \/": a version is an image tag/,
  },
  {
    name: "a version with a command substitution",
    args: deploy("$(id)"),
    exitCode: 2,
    message: /invalid version "\$\(id\)": a version is an image tag/,
  },
  {
    name: "a version with a newline",
    args: deploy("1.0.0\nmalicious: true"),
    exitCode: 2,
    message: /invalid version "1\.0\.0\\nmalicious: true": a version is an image tag/,
  },
  {
    name: "a version of 300 characters",
    args: deploy("1".repeat(300)),
    exitCode: 2,
    message: /invalid version "1{60}…": a version is an image tag/,
  },
  {
    name: "two @ in the argument",
    args: deploy("1.0.0@2"),
    exitCode: 2,
    message: /invalid version "1\.0\.0@2": a version is an image tag/,
  },
  {
    name: "an ingress version that is not Traefik's",
    args: ["deploy", "ingress@latest;x", "--yes"],
    exitCode: 2,
    message: /invalid version "latest;x": a version is an image tag/,
  },

  // ---- configuration: a copy of cluster.yaml ----
  {
    name: "cluster.yaml with a YAML syntax error",
    args: ["status"],
    clusterText: (t) => `${t}\n  : [unclosed\n`,
    exitCode: 2,
    message: /cluster\.yaml:\d+:\d+: YAML syntax error/,
  },
  {
    name: "an empty cluster.yaml",
    args: ["status"],
    clusterText: () => "",
    exitCode: 2,
    message: /cluster\.yaml:1:1: YAML syntax error: .+ the input is empty/,
  },
  {
    name: "a negative worker count",
    args: ["status"],
    cluster: [[["targets", "%t", "workers"], -1]],
    exitCode: 2,
    message: /targets\.[\w-]+\.workers/,
  },
  {
    name: "an even manager count",
    args: ["status"],
    cluster: [[["targets", "%t", "managers"], 2]],
    exitCode: 2,
    message: /targets\.[\w-]+\.managers/,
  },
  {
    name: "an unknown provider",
    args: ["status"],
    cluster: [[["targets", "%t", "provider"], "aws"]],
    exitCode: 2,
    message: /targets\.[\w-]+\.provider: Invalid option: expected one of "digitalocean"\|"local"/,
  },
  {
    name: "an unknown field",
    args: ["status"],
    cluster: [[["targets", "%t", "wrokers"], 2]],
    exitCode: 2,
    message: /targets\.[\w-]+\.wrokers: unknown field/,
  },
  {
    name: "a subnet that is not one",
    args: ["status"],
    cluster: [[["targets", "%t", "network", "subnet"], "10.0.0.0/99"]],
    exitCode: 2,
    message: /targets\.[\w-]+\.network\.subnet: must be an address range/,
  },
  {
    name: "a __proto__ key",
    args: ["status"],
    clusterText: (t) => t.replace("services:\n", "services:\n  __proto__: { job: x }\n"),
    exitCode: 2,
    message: /services\.__proto__: is not a name elm-infra accepts/,
  },
  {
    name: "a billion laughs",
    args: ["status"],
    clusterText: (t) => `${laughs()}\n${t}`,
    exitCode: 2,
    message: /its aliases \(\*name\) expand to more than 100000 nodes/,
  },
  {
    name: "a cluster.yaml over 1 MB",
    args: ["status"],
    clusterText: (t) => `${t}\n# ${"x".repeat(1_100_000)}\n`,
    exitCode: 2,
    message: /cluster\.yaml: is larger than 1 MB/,
  },
  {
    name: "a registry that is not an address",
    args: ["status"],
    cluster: [[["targets", "%t", "registry"], "not a registry!"]],
    exitCode: 2,
    message: /targets\.[\w-]+\.registry: must be 'local' or a registry address/,
  },

  // ---- template values: the services section ----
  {
    name: "a service port out of range",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "port"], 70000]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.port: Too big: expected number to be <=65535/,
  },
  {
    name: "a negative count",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "count"], -2]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.count: Too small: expected number to be >=1/,
  },
  {
    name: "a hostname with a backtick (a Traefik rule injection)",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "hostnames"], ["elm-lang.org`) || Host(`evil.org"]]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.hostnames\.0: must be a lower-case DNS name/,
  },
  {
    name: "a health path that is not a path",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "healthPath"], 'health"; exit']],
    exitCode: 2,
    message: /services\.elm-lang\.org\.healthPath: must be a path like \/health/,
  },
  {
    name: "a duration that is not one",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "update", "minHealthyTime"], "banana"]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.update\.minHealthyTime: must be a duration like 10s/,
  },
  {
    name: "a job template that does not exist",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "job"], "jobs/nope.nomad.hbs"]],
    exitCode: 2,
    message: /jobs\/nope\.nomad\.hbs/,
  },

  {
    name: "a healthy deadline past the progress deadline (Nomad would refuse it)",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "update", "healthyDeadline"], "90s"]],
    exitCode: 2,
    message:
      /services\.elm-lang\.org\.update\.healthyDeadline: healthyDeadline \(90s\) must be shorter than progressDeadline \(60s\)/,
  },
  {
    name: "memory below the 16 MB Nomad needs",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "resources", "memory"], 1]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.resources\.memory: Too small: expected number to be >=16/,
  },

  // ---- secrets: a copy of the secrets file, or the environment ----
  {
    name: "a secrets file with a YAML syntax error",
    args: ["status"],
    secrets: (t) => `${t}\nnomadToken: [unclosed\n`,
    exitCode: 2,
    message: /secrets\/[\w-]+\.yaml:\d+/,
  },
  {
    name: "a token that is not a UUID",
    args: ["status"],
    secrets: (t) => t.replace(/nomadToken: .*/, 'nomadToken: "not-a-uuid"'),
    exitCode: 2,
    message: /nomadToken: must be a Nomad ACL secret ID/,
    secret: "not-a-uuid",
  },
  {
    name: "an unknown key in the secrets file",
    args: ["status"],
    secrets: (t) => `${t}\nnomadTokn: "${wrongToken}"\n`,
    exitCode: 2,
    message: /secrets\/[\w-]+\.yaml: nomadTokn: unknown field/,
    secret: wrongToken,
  },
  {
    name: "a token from the environment that is not a UUID",
    args: ["status"],
    env: { ELM_INFRA_NOMAD_TOKEN: "hunter2-not-a-uuid" },
    exitCode: 2,
    message: /environment: ELM_INFRA_NOMAD_TOKEN: must be a Nomad ACL secret ID \(a UUID\)/,
    secret: "hunter2-not-a-uuid",
  },
];

/** A world gone wrong: one at a time, each put back (and healthy) before the next. */
const worldCases: BadInputCase[] = [
  {
    name: "Nomad stopped on the manager",
    args: ["status"],
    breakWorld: stopUnit("nomad"),
    exitCode: 1,
    // through the SSH tunnel a refused forward is a connection closed unanswered
    message:
      /Nomad closed the connection without answering at 127\.0\.0\.1:4646 on [\w-]+-manager-1 \(through SSH\)/,
  },
  {
    name: "Consul stopped on the manager, deploy needs its lock",
    args: deploy("1.0.1"),
    breakWorld: stopUnit("consul"),
    exitCode: 1,
    message:
      /Consul closed the connection without answering at 127\.0\.0\.1:8500 on [\w-]+-manager-1 \(through SSH\)/,
  },
  {
    name: "Consul silent (SIGSTOP), deploy needs its lock",
    args: deploy("1.0.1"),
    breakWorld: silence("consul"),
    exitCode: 1,
    message: /Consul did not answer within 10 s/,
  },
  {
    name: "SSH refused by the only manager",
    args: ["status"],
    breakWorld: async () => {
      await inManager("systemctl", "stop", "ssh");
      return async () => void (await inManager("systemctl", "start", "ssh"));
    },
    exitCode: 1,
    message:
      /no manager of target '[\w-]+' answered over SSH:\n\s+[\w-]+-manager-1: cannot connect to 127\.0\.0\.1:\d+ over SSH/,
  },
  {
    name: "the manager's host key changed",
    args: ["status"],
    clusterText: (t) => t.replace(/knownHosts: .*/, "knownHosts: changed_known_hosts"),
    breakWorld: async (folder) => {
      // The pinned keys with the manager's replaced by a worker's (another valid key).
      const paths = targetPaths(config);
      const lines = (await readFile(paths.knownHosts, "utf8")).split("\n");
      const keyOf = (line: string) => line.split(" ").slice(1).join(" ");
      const pinned = (l: string) => l.startsWith(`${managerAddress()} `);
      const worker = lines.find((l) => l.includes("ed25519") && !pinned(l))!;
      const changed = lines.map((l) => (pinned(l) ? `${l.split(" ")[0]} ${keyOf(worker)}` : l));
      await writeFile(join(folder, "changed_known_hosts"), changed.join("\n"));
      return async () => undefined;
    },
    exitCode: 3,
    message:
      /refused \[127\.0\.0\.1\]:\d+: its host key changed \(presented SHA256:.+, pinned SHA256:.+\)\nif the machine was rebuilt on purpose, remove its line: ssh-keygen -R/,
  },
  {
    name: "a wrong Nomad token",
    args: ["status"],
    env: { ELM_INFRA_NOMAD_TOKEN: wrongToken },
    exitCode: 1,
    message:
      /Nomad refused GET \/v1\/job\/elm-lang\.org: permission denied; the token needs namespace capability read-job \(Nomad at .+manager-1 \(through SSH\)\)/,
    secret: wrongToken,
  },
  {
    name: "no Nomad token",
    args: ["status"],
    secrets: (t) => t.replace(/nomadToken: .*\n/, ""),
    exitCode: 1,
    message:
      /Nomad refused GET \/v1\/job\/elm-lang\.org: permission denied; the token needs namespace capability read-job/,
  },
  {
    name: "a wrong Consul token, deploy needs its lock",
    args: deploy("1.0.1"),
    env: { ELM_INFRA_CONSUL_TOKEN: wrongToken },
    exitCode: 1,
    message:
      /Consul refused GET \/v1\/kv\/elm-infra\/locks\/deploy: permission denied; the token needs key_prefix "elm-infra\/" [\s\S]+consulToken in secrets/,
    secret: wrongToken,
  },
  {
    name: "the deploy lock held by another run",
    args: deploy("1.0.1"),
    breakWorld: async () => {
      const held = await acquireLock(apis.consul, deployLockKey, lockHolder("bad-input test"));
      return () => held.release();
    },
    exitCode: 3,
    message:
      /another deploy is under way: elm-infra\/locks\/deploy is locked by .+ \(bad-input test\) since /,
  },
  {
    name: "the operations lock held by another run",
    args: ["scale", "--workers", "3", "--yes"],
    breakWorld: async () => {
      const held = await acquireOperationsLock(
        targetPaths(config).state,
        e2e.target,
        "bad-input test",
      );
      return () => held.release();
    },
    exitCode: 3,
    message: /scale refused: bad-input test by .+ holds the operations lock/,
  },
  {
    name: "Nomad rejects the job: a template whose update has max_parallel = -1",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "job"], "rejected.nomad.hbs"]],
    breakWorld: async (folder) => {
      const template = await readFile(join(repo, "jobs/elm-lang.org.nomad.hbs"), "utf8");
      const broken = template.replace(/max_parallel\s*=\s*1/, "max_parallel = -1");
      expect(broken).not.toBe(template);
      await writeFile(join(folder, "rejected.nomad.hbs"), broken);
      return async () => undefined;
    },
    exitCode: 1,
    message:
      /Nomad refused the job \(POST \/v1\/job\/elm-lang\.org\/plan\): [\s\S]+Max parallel can not be less than zero[\s\S]+nothing was submitted/,
  },
  {
    name: "a registry refusing a push: wrong password",
    args: ["image", "elm-lang.org@1.0.0-bad-input", "--context", site, "--yes"],
    cluster: [[["targets", "%t", "registry"], "%registry/elm"]],
    env: { ELM_INFRA_REGISTRY_USERNAME: "elm", ELM_INFRA_REGISTRY_PASSWORD: wrongPassword },
    exitCode: 1,
    message:
      /pushing 127\.0\.0\.1:\d+\/elm\/elm-lang\.org:1\.0\.0-bad-input failed: unauthorized: authentication required\ncheck the registry credentials/,
    secret: wrongPassword,
  },
  {
    name: "a registry that is down",
    args: ["image", "elm-lang.org@1.0.0-bad-input", "--context", site, "--yes"],
    cluster: [[["targets", "%t", "registry"], "127.0.0.1:9/elm"]],
    env: { ELM_INFRA_REGISTRY_USERNAME: "elm", ELM_INFRA_REGISTRY_PASSWORD: wrongPassword },
    exitCode: 1,
    message:
      /pushing 127\.0\.0\.1:9\/elm\/elm-lang\.org:1\.0\.0-bad-input failed: .+connection refused\ncheck that the registry is reachable/,
    secret: wrongPassword,
  },
];

let managerAddr = "";
const managerAddress = () => managerAddr;

/** 10 levels of 10 aliases: 10^10 nodes once expanded. */
function laughs(): string {
  const lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i < 10; i++)
    lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(", ")}]`);
  return lines.join("\n");
}

/** A case's folder beside the shared one, sharing its jobs, images and state, with its own files. */
async function prepareFolder(folder: string): Promise<void> {
  await mkdir(join(folder, "secrets"), { recursive: true });
  for (const dir of ["jobs", "images", ".elm-infra"])
    await symlink(join(e2e.work, dir), join(folder, dir));
}

/** The case's copies of cluster.yaml and the secrets file, changed as it says. */
async function writeBadFiles(c: BadInputCase, folder: string): Promise<string | undefined> {
  if (!c.cluster && !c.clusterText && !c.secrets) return c.config;
  const text = await readFile(e2e.config, "utf8");
  let yaml = c.clusterText ? c.clusterText(text) : text;
  if (c.cluster) {
    const doc = parseDocument(yaml);
    for (const [path, value] of c.cluster) {
      const at = path.map((p) => (p === "%t" ? e2e.target : p));
      doc.setIn(
        at,
        typeof value === "string" ? value.replace("%registry", registry.address) : value,
      );
    }
    yaml = doc.toString();
  }
  const file = join(folder, "cluster.yaml");
  await writeFile(file, yaml);
  const secrets = join(folder, "secrets", `${e2e.target}.yaml`);
  await copyFile(targetPaths(config).secrets, secrets);
  if (c.secrets) await writeFile(secrets, c.secrets(await readFile(secrets, "utf8")));
  await chmod(secrets, 0o600);
  return file;
}

/** Everything the run printed: every event and stderr, as a user or a log would keep them. */
const printed = (r: Run) => `${JSON.stringify(r.events)}\n${r.stderr}`;

/** What the user is told: the error's message and what to do next. */
function told(r: Run): string {
  const error = r.events.find((e) => e.type === "error");
  return error ? `${String(error.message)}\n${String(error.hint ?? "")}` : errorOf(r);
}

/** Runs one case: breaks the world if it says so, runs the CLI, puts the world back, checks. */
async function runCase(c: BadInputCase, index: number): Promise<void> {
  const folder = join(bad(), String(index));
  await prepareFolder(folder);
  const began = Date.now();
  const restore = c.breakWorld ? await c.breakWorld(folder) : undefined;
  let r: Run;
  try {
    const file = await writeBadFiles(c, folder);
    r = await elmInfra(c.args, c.timeoutMs ?? 60_000, {
      ...(file ? { config: file } : {}),
      ...(c.target ? { target: c.target } : {}),
      ...(c.env ? { env: c.env } : {}),
    });
  } finally {
    await restore?.();
  }
  timings[c.name] = Date.now() - began;
  const message = told(r);
  expect(r.exitCode, message).toBe(c.exitCode);
  expect(message).toMatch(c.message);
  if (c.secret) expect(printed(r)).not.toContain(c.secret);
  expect(await snapshot()).toEqual(before);
}

const timings: Record<string, number> = {};

/** Commands that take the target's operations lock first: run one at a time, not beside another. */
const takesOperationsLock = (c: BadInputCase) =>
  ["bring-up", "destroy", "scale", "replace", "backup", "restore"].includes(c.args[0]!);

export function badInputScenarios(): void {
  describe("bad input: each case exits with its documented code and message, and changes nothing", () => {
    beforeAll(async () => {
      config = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
      apis = await connectToCluster(config);
      registry = await startRegistry("elm", `right-${randomUUID()}`);
      await rm(bad(), { recursive: true, force: true });
      const inventory = JSON.parse(
        await readFile(join(targetPaths(config).state, "inventory.json"), "utf8"),
      ) as Parameters<typeof inventoryManagerAddress>[0];
      managerAddr = inventoryManagerAddress(inventory);
      before = await snapshot();
      expect(Object.keys(before.jobs).length).toBeGreaterThan(0);
    });
    afterAll(async () => {
      await registry?.stop();
      await apis?.close();
      await rm(bad(), { recursive: true, force: true });
      await execa(
        "docker",
        [
          "rmi",
          "-f",
          `${registry?.address}/elm/elm-lang.org:1.0.0-bad-input`,
          "127.0.0.1:9/elm/elm-lang.org:1.0.0-bad-input",
          "elm-lang.org:1.0.0-bad-input",
        ],
        { reject: false },
      );
      const total = Object.values(timings).reduce((a, b) => a + b, 0);
      console.log(
        `bad-input: ${Object.keys(timings).length} cases, ${Math.round(total / 100) / 10} s of cases (input cases run 5 at once)`,
      );
      console.log(
        JSON.stringify(
          Object.fromEntries(
            Object.entries(timings).map(([k, v]) => [k, Math.round(v / 100) / 10]),
          ),
        ),
      );
    });

    it("has at least 40 cases, 10 of them about the world", () => {
      expect(inputCases.length + worldCases.length).toBeGreaterThanOrEqual(40);
      expect(worldCases.length).toBeGreaterThanOrEqual(10);
    });
    const numbered = inputCases.map((c, i) => [c.name, c, i] as const);
    it.concurrent.each(numbered.filter(([, c]) => !takesOperationsLock(c)))("%s", (_name, c, i) =>
      runCase(c, i),
    );
    it.each(numbered.filter(([, c]) => takesOperationsLock(c)))("%s", (_name, c, i) =>
      runCase(c, i),
    );
    it.each(worldCases.map((c, i) => [c.name, c, inputCases.length + i] as const))(
      "the world: %s",
      async (_name, c, i) => runCase(c, i),
    );
  });
}

/** The manager's entry in known_hosts: `[host]:port`, as the inventory says it is reached. */
function inventoryManagerAddress(inventory: {
  hosts?: Array<{ role: string; ssh: { host: string; port: number } }>;
}): string {
  const ssh = inventory.hosts?.find((h) => h.role === "manager")?.ssh;
  if (!ssh) throw new Error("the inventory names no manager");
  return `[${ssh.host}]:${ssh.port}`;
}
