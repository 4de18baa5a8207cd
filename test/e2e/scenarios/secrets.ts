/**
 * Issue 12, item 3: secrets stay where they belong, and the canary is not public (watched during
 * the zero-downtime set's rolling deploy of elm-lang.org: watchCanaryRoute, expectCanaryNotPublic).
 *
 * The audit plants known values for the secrets a user supplies (the DigitalOcean token, the
 * registry's username and password: in the secrets file before the first bring-up) and reads the
 * ones bring-up generates (gossip keys, ACL tokens) from the same file, then searches for each, in
 * plain, base64, JSON-escaped and URL-encoded forms, in: every CLI run's stdout and stderr (the
 * JSON events), every file in the target's folder (generated files, inventory, OpenTofu state and
 * plans, Ansible's files, the cluster snapshots `backup cluster` copied here), every version of
 * every Nomad job, `docker inspect` of every container of the target and of every container inside
 * each host, each host's journal, each host's /etc, /root, /home, /tmp, /var/log and
 * /srv/cluster-snapshots, and every object in the target's store (issue 23: versitygw's files,
 * versions too: OpenTofu's state, the age-encrypted secrets, the shared files, the backups'
 * copies). The store's secret access key and the operators' age identities are searched for
 * too, and may show nowhere. After destroy, the second working copy's files are searched as
 * well. The only places a secret may show (`allowed` below):
 *   - secrets/<target>.yaml on this machine (mode 0600), every field;
 *   - on each host, each agent's own configuration for its own credentials:
 *     /etc/consul.d/consul.hcl: Consul's gossip key and the Consul agent's token;
 *     /etc/nomad.d/nomad.hcl: Nomad's gossip key (servers) and Nomad's token for Consul;
 *     /etc/docker/nomad-auth.json (workers, root 0600): the registry's user and password.
 * The registry's container logs no request (its log would name the user): searched like every
 * container's log.
 * Agents' data folders (/opt/consul, /opt/nomad: their Raft stores, Traefik's rendered
 * configuration in its allocation's secrets/ folder) are where the agents keep what they are
 * given: not searched.
 */
import { execa, type ResultPromise } from "execa";
import { lstat, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { connectToCluster } from "../../../src/cluster/connect.js";
import { loadConfig } from "../../../src/config/load.js";
import { canaryEntrypointPort, canaryHeader } from "../../../src/traefik/canary.js";
import { certificateSpecs, certificateVariable } from "../../../src/plan/tls.js";
import { findSecrets, secretForms, type Finding, type Place } from "../../harness/secret-search.js";
import { docker, e2e, hostNames, label, throughLoadBalancer } from "../support.js";

/**
 * What a user supplies, planted before the first bring-up. The local target uses the registry's
 * user and password as its own registry's credentials (bring-up generates them only when absent):
 * the audit searches for both, everywhere.
 */
const planted = {
  digitaloceanToken: "dop_v1_e2eaudit7c1f0a9d2b4e6f8a0c2e4a6b8d0f2a4c6e8a0b2d4",
  registryUsername: "e2e-audit-registry-user",
  registryPassword: "e2e-audit/pw+Xq9=Zr7&k",
};

/** The secrets the audit searched for: destroy forgets the cluster's own from the file. */
let audited: Record<string, string> = {};

const secretsPath = () => join(e2e.work, "secrets", `${e2e.target}.yaml`);

/** Host files allowed to hold secrets, and which: each agent's own credentials. */
const allowedOnHosts: Record<string, readonly string[]> = {
  "/etc/consul.d/consul.hcl": ["consulGossipKey", "consulAgentToken"],
  "/etc/nomad.d/nomad.hcl": ["nomadGossipKey", "consulNomadToken"],
  // the Nomad Docker driver's pull credentials (root 0600, asserted by scenarios/registry.ts)
  "/etc/docker/nomad-auth.json": ["registryUsername", "registryPassword"],
};
// The workers' cluster snapshots too (age-encrypted; scenarios/cluster-snapshots.ts made some).
const hostFolders = ["/etc", "/root", "/home", "/tmp", "/var/log", "/srv/cluster-snapshots"];

/** The secrets file's fields (`key: "value"` lines, as writeSecrets writes them). */
export async function readSecretsFile(): Promise<Record<string, string>> {
  const text = await readFile(secretsPath(), "utf8");
  return Object.fromEntries(
    text
      .split("\n")
      .map((l) => /^(\w+): (".*")$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, JSON.parse(m[2]!) as string]),
  );
}

/** Every regular file under `dir` but the secrets file; symbolic links (jobs/, images/) are the repo's. */
async function filesUnder(dir: string): Promise<Place[]> {
  const places: Place[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink() || path === secretsPath()) continue;
    if (entry.isDirectory()) places.push(...(await filesUnder(path)));
    else if (entry.isFile())
      places.push({ where: relative(e2e.work, path), data: await readFile(path) });
  }
  return places;
}

async function jobSpecs(): Promise<Place[]> {
  const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  const apis = await connectToCluster(loaded);
  try {
    const places: Place[] = [];
    for (const job of await apis.nomad.jobsWithPrefix("")) {
      for (const v of await apis.nomad.jobVersions(job.ID))
        places.push({ where: `Nomad job ${job.ID} version ${v.Version}`, data: JSON.stringify(v) });
    }
    return places;
  } finally {
    await apis.close();
  }
}

async function containers(hosts: string[]): Promise<Place[]> {
  const ours = (await docker("ps", "-aq", "--filter", label())).split("\n").filter((l) => l);
  const places: Place[] = [
    { where: "docker inspect (target)", data: await docker("inspect", ...ours) },
  ];
  for (const host of hosts) {
    const nested = await docker(
      "exec",
      host,
      "sh",
      "-c",
      'ids=$(docker ps -aq); [ -z "$ids" ] || docker inspect $ids',
    );
    places.push({ where: `docker inspect (inside ${host})`, data: nested });
  }
  return places;
}

/**
 * The certificates' private keys (the issuer's Nomad variables, certs/*): their PEM bodies' first
 * and last full lines, the key material itself (not the header every key shares), as fields.
 */
async function certificateKeys(): Promise<Record<string, string>> {
  const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  const apis = await connectToCluster(loaded);
  try {
    const out: Record<string, string> = {};
    for (const spec of certificateSpecs(loaded)) {
      const key = (await apis.nomad.readVariable(certificateVariable(spec.name)))?.Items.key ?? "";
      const body = key.split("\n").filter((l) => /^[A-Za-z0-9+/=]{60,}$/.test(l));
      expect(body.length, `certs/${spec.name} holds no key`).toBeGreaterThan(0);
      out[`certificate key ${spec.name} (first line)`] = body[0]!;
      out[`certificate key ${spec.name} (last full line)`] = body.at(-1)!;
    }
    return out;
  } finally {
    await apis.close();
  }
}

/** What every container printed: the target's own (Pebble, the load balancer) and each host's jobs'. */
async function containerLogs(hosts: string[]): Promise<Place[]> {
  const places: Place[] = [];
  for (const id of (await docker("ps", "-aq", "--filter", label())).split("\n").filter((l) => l)) {
    const logs = await execa("docker", ["logs", id], { reject: false, timeout: 60_000 });
    places.push({
      where: `docker logs ${id}`,
      data: `${String(logs.stdout)}\n${String(logs.stderr)}`,
    });
  }
  for (const host of hosts) {
    const logs = await execa(
      "docker",
      ["exec", host, "sh", "-c", "for c in $(docker ps -aq); do docker logs $c 2>&1; done"],
      { reject: false, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 },
    );
    places.push({ where: `${host}: its containers' logs`, data: String(logs.stdout) });
  }
  return places;
}

/** Each host's journal, and its files that hold any form of a secret (found by grep, then read). */
async function hostPlaces(hosts: string[], needles: string[]): Promise<Place[]> {
  const places: Place[] = [];
  for (const host of hosts) {
    const journal = await execa("docker", ["exec", host, "journalctl", "--no-pager", "-o", "cat"], {
      encoding: "buffer",
      timeout: 60_000,
      maxBuffer: 512 * 1024 * 1024,
    });
    places.push({ where: `${host}: journal`, data: Buffer.from(journal.stdout) });
    const grep = await execa(
      "docker",
      ["exec", "-i", host, "grep", "-rlsF", "-f", "/dev/stdin", ...hostFolders],
      { input: needles.join("\n"), reject: false, timeout: 60_000 },
    );
    for (const file of String(grep.stdout)
      .split("\n")
      .filter((l) => l)) {
      places.push({ where: `${host}:${file}`, data: await docker("exec", host, "cat", file) });
    }
  }
  return places;
}

/**
 * Every object in the target's store, whole (issue 23): each file of versitygw's posix backend,
 * the buckets' objects and their versions (OpenTofu's state, the encrypted secrets, the shared
 * files, the lease, the backups' copies), as anyone with the store's key, or its disk, reads them.
 */
async function storeObjects(): Promise<Place[]> {
  const dir = e2e.store!.dir;
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  expect(files.some((f) => f.endsWith("terraform.tfstate"))).toBe(true);
  return Promise.all(
    files.map(async (f) => ({ where: `store: ${relative(dir, f)}`, data: await readFile(f) })),
  );
}

/**
 * What may show nowhere, beside the secrets file's: the store's secret access key and each
 * operator's age identity (they reach the CLI only through its environment).
 */
const neverShown = (): Record<string, string> => ({
  "the store's secret access key": e2e.store!.credentials.secretAccessKey,
  ...Object.fromEntries(e2e.operators.map((o) => [`age identity of ${o.name}`, o.identity])),
});

/** Every CLI run's stdout and stderr so far, named by its arguments. */
const cliOutputs = (): Place[] =>
  e2e.outputs.map((o, i) => ({ where: `CLI run ${i + 1}: ${o.split("\n")[0]}`, data: o }));

const allowed = (f: Finding) => {
  const file = f.where.slice(f.where.indexOf(":") + 1);
  return allowedOnHosts[file]?.includes(f.field) ?? false;
};

/** What a request with the canary header saw, round by round, while a deploy ran. */
export interface CanaryRouteSeen {
  /** Deploy said the canary answered through Traefik. */
  proven: boolean;
  rounds: Array<{ canary: string; publicVersion: string }>;
}

/**
 * Issue 12, item 3, watched during a deploy of elm-lang.org (`running`, started with --json):
 * until deploy says the canary answered, the canary entrypoint (inside a worker, loopback only)
 * and then the public one (through the load balancer), both with the canary header, every 200 ms.
 * A public answer in the round where the canary first answered came after the canary router
 * was live. Judged by expectCanaryNotPublic.
 */
export async function watchCanaryRoute(running: ResultPromise): Promise<CanaryRouteSeen> {
  const worker = (await hostNames()).split("\n").find((n) => n.includes("-worker-"))!;
  let proven = false;
  let finished = false;
  let stdout = "";
  void running.finally(() => (finished = true)).catch(() => undefined);
  running.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    proven ||= /canary answers \S+ through Traefik/.test(stdout);
  });
  const rounds: CanaryRouteSeen["rounds"] = [];
  const deadline = Date.now() + 240_000;
  while (!proven && Date.now() < deadline && !finished) {
    const canary = await docker(
      "exec",
      worker,
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-D",
      "-",
      "-m",
      "2",
      "-H",
      `${canaryHeader}: 1`,
      "-H",
      "Host: elm-lang.org",
      `http://127.0.0.1:${canaryEntrypointPort}/health`,
    ).catch(() => "");
    const res = await throughLoadBalancer("elm-lang.org", "/health", {
      headers: { [canaryHeader]: "1" },
    });
    rounds.push({
      canary: /x-elm-version: (\S+)/i.exec(canary)?.[1] ?? "none",
      publicVersion: `${res.status} ${String(res.headers["x-elm-version"])}`,
    });
    await new Promise((r) => setTimeout(r, 200));
  }
  return { proven, rounds };
}

/**
 * The canary answered on its entrypoint (at `canaryVersion`), and every public answer, including
 * those after it did, came from the promoted version: the canary is not public.
 */
export function expectCanaryNotPublic(
  seen: CanaryRouteSeen,
  canaryVersion: string,
  promoted: string,
): void {
  const firstCanary = seen.rounds.findIndex((s) => s.canary === canaryVersion);
  console.log(
    `canary route: ${seen.rounds.length} rounds, the canary answered on its entrypoint from round ${firstCanary + 1}`,
  );
  expect(firstCanary, JSON.stringify(seen.rounds)).toBeGreaterThanOrEqual(0);
  expect(new Set(seen.rounds.map((s) => s.publicVersion))).toEqual(new Set([`200 ${promoted}`]));
}

export function secretsScenarios(): void {
  beforeAll(async () => {
    // Before the first bring-up: the user's secrets, as a user writes them (mode 0600).
    const lines = Object.entries(planted).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
    await mkdir(join(e2e.work, "secrets"), { recursive: true, mode: 0o700 });
    await writeFile(secretsPath(), `${lines.join("\n")}\n`, { mode: 0o600 });
  });

  it("secrets audit: no secret, in any form, outside the secrets file (0600) and each agent's own configuration", async () => {
    const info = await stat(secretsPath());
    expect((info.mode & 0o777).toString(8)).toBe("600");
    const secrets = await readSecretsFile();
    audited = secrets;
    expect(Object.keys(secrets).sort()).toEqual(
      [
        ...Object.keys(planted),
        "clusterSnapshotIdentity",
        "consulAgentToken",
        "consulGossipKey",
        "consulNomadToken",
        "consulToken",
        "consulTraefikToken",
        "nomadGossipKey",
        "nomadToken",
      ].sort(),
    );
    for (const [field, value] of Object.entries(planted)) expect(secrets[field]).toBe(value);
    // The certificates' keys too (issue 13): in Nomad and Traefik's memory only, never printed.
    Object.assign(secrets, await certificateKeys(), neverShown());
    const hosts = (await hostNames()).split("\n").filter((l) => l);
    const needles = [
      ...new Set(Object.values(secrets).flatMap((v) => secretForms(v).map((f) => f.needle))),
    ];
    const places: Place[] = [
      ...cliOutputs(),
      ...(await filesUnder(e2e.work)),
      ...(await jobSpecs()),
      ...(await containers(hosts)),
      ...(await hostPlaces(hosts, needles)),
      ...(await containerLogs(hosts)),
      ...(await storeObjects()),
    ];
    expect(e2e.outputs.length).toBeGreaterThan(3);
    const findings = findSecrets(places, secrets);
    expect(findings.filter((f) => !allowed(f))).toEqual([]);

    // The search works: a planted value, base64-encoded, where it must not be, is found.
    const leak = join(e2e.work, "leak-check.txt");
    await writeFile(
      leak,
      `auth: ${Buffer.from(`u:${planted.registryPassword}`).toString("base64")}\n`,
    );
    try {
      expect(findSecrets(await filesUnder(e2e.work), secrets)).toEqual([
        { where: "leak-check.txt", field: "registryPassword", form: "base64" },
      ]);
    } finally {
      await rm(leak);
    }
    expect((await lstat(join(e2e.work, ".elm-infra", e2e.target, "id_ed25519"))).mode & 0o077).toBe(
      0,
    );
  });
}

/**
 * After destroy (placed last by cluster.test.ts): what destroy printed and left in the target's
 * folder (OpenTofu's state and any plan) holds none of the secrets searched for before.
 */
export function secretsAfterDestroyScenarios(): void {
  it("secrets audit after destroy: no secret in any output or file left behind, in any working copy or in any object of the store", async () => {
    expect(Object.keys(audited).length).toBeGreaterThan(3);
    const places: Place[] = [
      ...cliOutputs(),
      ...(await filesUnder(e2e.work)),
      ...(await filesUnder(e2e.second.work)),
      ...(e2e.ciCopy.work ? await filesUnder(e2e.ciCopy.work) : []),
      ...(await storeObjects()),
    ];
    expect(findSecrets(places, audited)).toEqual([]);
    expect(((await stat(secretsPath())).mode & 0o777).toString(8)).toBe("600");
  });
}
