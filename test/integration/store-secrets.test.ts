/**
 * The cluster secrets and the target's files in the shared store (issue 23 item 1), against a
 * real S3-compatible server (versitygw on loopback) and the real `age`: bring-up's sharing puts
 * the generated secrets there only encrypted to the operators listed in cluster.yaml, and the
 * inventory, pinned host keys, trusted roots and the target's SSH public key under files/; no object holds any secret in
 * clear; adding an operator encrypts them again. Then the built CLI in a second working copy (an
 * empty folder with only cluster.yaml) reads them with its own identity and writes no secret
 * anywhere; a stranger's identity, or none, is refused (exit 2) and changes nothing. A copy then
 * follows the store's files: fetched, refreshed when another operator changed them, kept when
 * changed here, removed when the store forgot them. Last, the CLI's destroy forgets in the store
 * what it forgets here. About 10 s.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushSharedFiles, completeFromStore } from "../../src/cluster/shared-state.js";
import { loadConfig, writeSecrets, type LoadedConfig } from "../../src/config/load.js";
import { ExitCode, UsageError } from "../../src/errors.js";
import { ageIdentity, ageRecipient } from "../../src/plan/age.js";
import { clusterSecretFields } from "../../src/plan/secrets.js";
import { sharedSecretsKey } from "../../src/plan/shared-secrets.js";
import { StoreClient } from "../../src/store/client.js";
import { shareSecretsInStore } from "../../src/tasks/shared-state.js";
import { ensureBuilt } from "../harness/cli.js";
import { makeLocalTarget, minimalServices, type LocalTarget } from "../harness/local-target.js";
import { startObjectStore, type LocalObjectStore } from "../harness/object-store.js";
import { folderTree, spawnCli } from "../support/cli.js";

let store: LocalObjectStore;
let first: LocalTarget;
let client: StoreClient;
let keys: string;
const target = `ss-${randomBytes(3).toString("hex")}`;
const operator = (seed: number) => {
  const identity = ageIdentity(randomBytes(32));
  return { name: `op${seed}`, identity, recipient: ageRecipient(identity) };
};
const ada = operator(1);
const bob = operator(2);
const eve = operator(3);

/** What bring-up would generate, with a user's own token beside it (never shared). */
const secrets: Record<string, string> = {
  ...Object.fromEntries(
    clusterSecretFields.map((f) => [
      f,
      f.endsWith("GossipKey") ? randomBytes(32).toString("base64") : randomUUID(),
    ]),
  ),
  clusterSnapshotIdentity: ageIdentity(randomBytes(32)),
  digitaloceanToken: `dop_v1_${randomBytes(16).toString("hex")}`,
};
const files = {
  "inventory.json": `${JSON.stringify({
    target,
    hosts: [
      {
        name: `${target}-worker-7`,
        role: "worker",
        privateAddress: "10.9.0.17",
        ssh: { host: "127.0.0.1", port: 40_007 },
      },
    ],
  })}\n`,
  known_hosts: "[127.0.0.1]:40007 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedHostKeyForTheTest\n",
  "ca.pem": "-----BEGIN CERTIFICATE-----\nTRUSTEDROOTFORTHETEST\n-----END CERTIFICATE-----\n",
  // the public half of the key bring-up made (ssh.privateKey): another copy plans with it
  "id_ed25519.pub": `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPublicHalfOfTheTargetsKey elm-infra ${target}\n`,
};

async function withOperators(list: Array<{ name: string; recipient: string }>): Promise<void> {
  const yaml = await readFile(first.config, "utf8");
  const operators = list.map((o) => `{ name: ${o.name}, ageRecipient: ${o.recipient} }`);
  await writeFile(
    first.config,
    yaml.replace(/operators: \[.*\]/, `operators: [${operators.join(", ")}]`),
  );
}

const load = (): Promise<LoadedConfig> => loadConfig({ file: first.config, target, env: {} });

/** Every object of the target's prefix, whole: what anyone with the store's key can read. */
async function everyObject(): Promise<string> {
  const bodies = await Promise.all(
    (await client.list()).map(async (k) => `${k}\n${(await client.get(k))?.body ?? ""}`),
  );
  return bodies.join("\n");
}

/** Every file under `dir`, whole: what this working copy wrote. */
async function everyFileText(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    entries.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name), "utf8")),
  );
  return texts.join("\n");
}

beforeAll(async () => {
  await ensureBuilt();
  store = await startObjectStore();
  first = await makeLocalTarget(target, {
    managers: 1,
    workers: 1,
    slot: 0,
    subnetBase: 200,
    sshBase: 40_000,
    services: minimalServices,
    image: "elm-infra/host:not-used-here",
  });
  const yaml = await readFile(first.config, "utf8");
  await writeFile(
    first.config,
    yaml.replace(
      "    snapshots:",
      `    store: { endpoint: "${store.endpoint}", bucket: ${store.bucket}, region: ${store.region} }\n    operators: [{ name: ada, ageRecipient: ${ada.recipient} }]\n    snapshots:`,
    ),
  );
  keys = await mkdtemp(join(tmpdir(), "elm-infra-age-keys-"));
  for (const o of [ada, bob, eve])
    await writeFile(join(keys, o.name), `# ${o.name}\n${o.identity}\n`, { mode: 0o600 });
  client = new StoreClient(store.location(`elm-infra/${target}/`), store.credentials);
  process.env.AWS_ACCESS_KEY_ID = store.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = store.credentials.secretAccessKey;
});

afterAll(async () => {
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  client?.close();
  await store?.stop();
  if (first) await rm(first.work, { recursive: true, force: true });
  if (keys) await rm(keys, { recursive: true, force: true });
});

describe("the first operator's bring-up shares the secrets and files", () => {
  it("puts the generated secrets in the store only encrypted to the listed operator, and the files under files/", async () => {
    await writeSecrets(first.work, target, secrets);
    const state = join(first.work, ".elm-infra", target);
    await mkdir(state, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(join(state, name), text);
    const config = await load();
    const said = await shareSecretsInStore(config, config.secrets, ["nomadToken"]);
    expect(said).toBe("encrypted to 1 operator(s) and put in the store (the store has none yet)");
    // a copy left in the store by an earlier run, of a file this machine no longer has, goes
    await client.put("files/registry-ca.pem", "a registry's CA that destroy removed");
    expect(await pushSharedFiles(client, config)).toEqual({
      put: ["files/inventory.json", "files/known_hosts", "files/ca.pem", "files/ssh-key.pub"],
      deleted: ["files/registry-ca.pem"],
    });
    expect((await client.list()).sort()).toEqual([
      "files/ca.pem",
      "files/inventory.json",
      "files/known_hosts",
      "files/ssh-key.pub",
      sharedSecretsKey,
    ]);
    const envelope = JSON.parse((await client.get(sharedSecretsKey))!.body);
    expect(envelope.recipients).toEqual([ada.recipient]);
    expect(envelope.age).toContain("-----BEGIN AGE ENCRYPTED FILE-----");
  });

  it("no object in the store holds a secret in clear", async () => {
    const all = await everyObject();
    for (const [field, value] of Object.entries(secrets))
      expect(all.includes(value), `${field} in clear in the store`).toBe(false);
    for (const o of [ada, bob, eve]) expect(all.includes(o.identity)).toBe(false);
  });

  it("unchanged operators: nothing written again; one added: encrypted again to both", async () => {
    const before = (await client.get(sharedSecretsKey))!.etag;
    expect(await shareSecretsInStore(await load(), secrets, [])).toBe(
      "store: already in the store, encrypted to every listed operator",
    );
    expect((await client.get(sharedSecretsKey))!.etag).toBe(before);
    await withOperators([ada, bob]);
    const config = await load();
    expect(config.target.operators?.map((o) => o.name)).toEqual(["op1", "op2"]);
    expect(await shareSecretsInStore(config, config.secrets, [])).toBe(
      "encrypted to 2 operator(s) and put in the store (re-encrypted: 1 operator(s) added)",
    );
    const envelope = JSON.parse((await client.get(sharedSecretsKey))!.body);
    expect(envelope.recipients).toEqual([ada.recipient, bob.recipient].sort());
  });
});

describe("a second working copy (only cluster.yaml) reads them with its own identity", () => {
  let second: string;
  const storeEnv = () => ({
    CI: "true",
    AWS_ACCESS_KEY_ID: store.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey,
  });
  const copy = async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-second-copy-"));
    await writeFile(join(dir, "cluster.yaml"), await readFile(first.config, "utf8"));
    // a checkout of the same repository: the job templates beside cluster.yaml
    await symlink(join(first.work, "jobs"), join(dir, "jobs"));
    return dir;
  };
  const renderIngress = (dir: string, env: Record<string, string>) =>
    spawnCli(["render", "ingress", "--config", join(dir, "cluster.yaml"), "--target", target], {
      cwd: dir,
      env,
      timeoutMs: 60_000,
    });

  beforeAll(async () => {
    second = await copy();
  });
  afterAll(async () => {
    if (second) await rm(second, { recursive: true, force: true });
  });

  it("a stranger's identity is refused (exit 2), saying what to set; nothing is written", async () => {
    const before = await folderTree(second);
    const r = await renderIngress(second, {
      ...storeEnv(),
      ELM_INFRA_AGE_IDENTITY_FILE: join(keys, eve.name),
    });
    expect(r.exitCode, r.stderr).toBe(ExitCode.Usage);
    expect(r.stderr).toContain("the age identity from ELM_INFRA_AGE_IDENTITY_FILE cannot read");
    expect(r.stderr).toContain(`targets.${target}.operators`);
    expect(r.stderr).not.toContain(eve.identity);
    expect(await folderTree(second)).toEqual(before);
  });

  it("no identity at all is refused (exit 2), naming both variables", async () => {
    const r = await renderIngress(second, storeEnv());
    expect(r.exitCode, r.stderr).toBe(ExitCode.Usage);
    expect(r.stderr).toContain(
      "neither ELM_INFRA_AGE_IDENTITY nor ELM_INFRA_AGE_IDENTITY_FILE is set",
    );
  });

  it("the added operator's identity reads the secrets and files; no secret is written here", async () => {
    const r = await renderIngress(second, {
      ...storeEnv(),
      ELM_INFRA_AGE_IDENTITY_FILE: join(keys, bob.name),
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`read from the store of target ${target}: the cluster secrets`);
    // the job is rendered for the workers of the inventory it read from the store
    expect(r.stdout).toContain(`${target}-worker-7`);
    const state = join(second, ".elm-infra", target);
    for (const [name, text] of Object.entries(files)) {
      expect(await readFile(join(state, name), "utf8")).toBe(text);
      expect((await stat(join(state, name))).mode & 0o777).toBe(0o600);
    }
    expect(await stat(join(second, "secrets")).catch(() => undefined)).toBeUndefined();
    const written = await everyFileText(second);
    for (const value of Object.values(secrets)) expect(written.includes(value)).toBe(false);
    for (const value of Object.values(secrets)) expect(r.stdout + r.stderr).not.toContain(value);
  });

  it("in process: the store's secrets come under the environment's, and the key itself is an identity", async () => {
    const dir = await copy();
    try {
      const env = { ELM_INFRA_NOMAD_TOKEN: "3f1c9a2e-7b4d-4e8a-9c1f-2d5b6a7e8f90" };
      const loaded = await loadConfig({ file: join(dir, "cluster.yaml"), target, env });
      const { config, fetched } = await completeFromStore(loaded, {
        ...process.env,
        ELM_INFRA_AGE_IDENTITY: ada.identity,
      });
      expect(fetched[0]).toBe("the cluster secrets");
      expect(config.secrets.nomadToken).toBe(env.ELM_INFRA_NOMAD_TOKEN);
      expect(config.secrets.consulToken).toBe(secrets.consulToken);
      // the user's own token is never shared
      expect(config.secrets.digitaloceanToken).toBeUndefined();
      const refused = await completeFromStore(loaded, {
        ...process.env,
        ELM_INFRA_AGE_IDENTITY: eve.identity,
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UsageError);
      // listed in cluster.yaml, but nobody has encrypted the secrets to her yet
      const listed = {
        ...loaded,
        target: {
          ...loaded.target,
          operators: [...loaded.target.operators!, { name: "eve", ageRecipient: eve.recipient }],
        },
      };
      const notYet = await completeFromStore(listed, {
        ...process.env,
        ELM_INFRA_AGE_IDENTITY: eve.identity,
      }).catch((e: unknown) => e);
      expect((notYet as UsageError).hint).toContain("encrypted before it was");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a working copy follows the store's files", () => {
  const state = (dir: string) => join(dir, ".elm-infra", target);
  const firstState = () => state(first.work);
  const inDir = async (dir: string) => {
    const loaded = await loadConfig({ file: join(dir, "cluster.yaml"), target, env: {} });
    return completeFromStore(loaded, { ...process.env, ELM_INFRA_AGE_IDENTITY: ada.identity });
  };
  /** The first copy changes one of its files and shares it, as its bring-up or scale would. */
  const firstShares = async (name: string, text: string) => {
    await writeFile(join(firstState(), name), text);
    await pushSharedFiles(client, await load());
  };
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "elm-infra-follower-"));
    await writeFile(join(dir, "cluster.yaml"), await readFile(first.config, "utf8"));
  });
  afterAll(async () => {
    // the first copy as it was, and the store with it, for destroy's test
    for (const [name, text] of Object.entries(files))
      await writeFile(join(firstState(), name), text);
    await pushSharedFiles(client, await load());
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("fetches what it lacks, then takes what another operator changed there (an inventory after their scale)", async () => {
    const fetched = (await inDir(dir)).files!;
    expect(fetched.fetched.map((p) => p.slice(state(dir).length + 1)).sort()).toEqual(
      Object.keys(files).sort(),
    );
    expect((await inDir(dir)).files).toEqual({ fetched: [], refreshed: [], removed: [], kept: [] });
    const scaled = files["inventory.json"].replace("worker-7", "worker-8");
    await firstShares("inventory.json", scaled);
    const after = (await inDir(dir)).files!;
    expect(after.refreshed).toEqual([join(state(dir), "inventory.json")]);
    expect(await readFile(join(state(dir), "inventory.json"), "utf8")).toBe(scaled);
    expect((await stat(join(state(dir), "inventory.json"))).mode & 0o777).toBe(0o600);
  });

  it("keeps a file changed here since it last shared it, and says so; takes the store's once deleted here", async () => {
    const mine = `${files.known_hosts}[127.0.0.1]:40009 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMine\n`;
    await writeFile(join(state(dir), "known_hosts"), mine);
    const theirs = `${files.known_hosts}[127.0.0.1]:40008 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITheirs\n`;
    await firstShares("known_hosts", theirs);
    const kept = (await inDir(dir)).files!;
    expect(kept.kept).toEqual([join(state(dir), "known_hosts")]);
    expect(kept.refreshed).toEqual([]);
    expect(await readFile(join(state(dir), "known_hosts"), "utf8")).toBe(mine);
    await rm(join(state(dir), "known_hosts"));
    expect((await inDir(dir)).files!.fetched).toEqual([join(state(dir), "known_hosts")]);
    expect(await readFile(join(state(dir), "known_hosts"), "utf8")).toBe(theirs);
  });

  it("removes a file the store no longer has (another operator's destroy) when unchanged here", async () => {
    await client.delete("files/ca.pem");
    const removed = (await inDir(dir)).files!;
    expect(removed.removed).toEqual([join(state(dir), "ca.pem")]);
    await expect(stat(join(state(dir), "ca.pem"))).rejects.toThrow(/ENOENT/);
  });

  it("without the store's key, a copy that has the secrets is not compared, and says so", async () => {
    const loaded = await loadConfig({ file: join(dir, "cluster.yaml"), target, env: {} });
    const withSecrets = { ...loaded, secrets: { ...loaded.secrets, ...secrets } };
    const env = { ...process.env };
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    const r = await completeFromStore(withSecrets, env);
    expect(r.files).toBeUndefined();
    expect(r.notCompared).toMatch(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set/);
  });
});

describe("destroy forgets in the store what it forgets here", () => {
  it("the cluster's secrets re-encrypted without them (the snapshots' identity kept), the inventory and roots deleted", async () => {
    // the target's SSH key, as bring-up made it (OpenTofu's plan reads its public half)
    const key = join(first.work, ".elm-infra", target, "id_ed25519");
    await rm(`${key}.pub`);
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const r = await spawnCli(["destroy", "--yes", "--config", first.config, "--target", target], {
      cwd: first.work,
      env: {
        CI: "true",
        AWS_ACCESS_KEY_ID: store.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey,
      },
      timeoutMs: 300_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    // the key pair stays here, and its public half there
    expect((await client.list()).sort()).toEqual([
      "files/known_hosts",
      "files/ssh-key.pub",
      sharedSecretsKey,
    ]);
    expect((await client.get("files/ssh-key.pub"))?.body).toBe(
      await readFile(`${key}.pub`, "utf8"),
    );
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-after-destroy-"));
    try {
      await writeFile(join(dir, "cluster.yaml"), await readFile(first.config, "utf8"));
      const loaded = await loadConfig({ file: join(dir, "cluster.yaml"), target, env: {} });
      const { config } = await completeFromStore(loaded, {
        ...process.env,
        ELM_INFRA_AGE_IDENTITY: bob.identity,
      });
      expect(config.secrets).toEqual({
        clusterSnapshotIdentity: secrets.clusterSnapshotIdentity,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
