/**
 * The operations lock as a lease in the shared store, against a real S3-compatible server
 * (versitygw on loopback): of several takers at once exactly one wins and the others are refused
 * (exit 3) naming it and since when; the lease is renewed while held, so it does not expire under
 * a live holder; a lease past its expiry is taken over, by exactly one of two takers; a lease
 * taken from under its holder is said (a warning) and not deleted by that holder's release;
 * `--lock-wait` takes it once released. Then the CLI on a target whose cluster.yaml names the
 * store: no access key is a configuration error (exit 2); a held lease refuses `bring-up` (exit 3,
 * the holder named, nothing written on this machine); with `--lock-wait` it goes ahead once the
 * lease is released, and leaves no lease behind; its OpenTofu state is in the store, locked by
 * OpenTofu's lockfile there (a lockfile held by another operator stops the plan).
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile, readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LockHeldError } from "../../src/errors.js";
import { waitingLock, type HeldLock } from "../../src/lock.js";
import { StoreClient } from "../../src/store/client.js";
import { leaseKey, storeLock, type Lease } from "../../src/store/lease.js";
import { storeStateKey } from "../../src/terraform/backend.js";
import { ensureBuilt } from "../harness/cli.js";
import { makeLocalTarget, minimalServices, type LocalTarget } from "../harness/local-target.js";
import { startObjectStore, type LocalObjectStore } from "../harness/object-store.js";
import { folderTree, spawnCli } from "../support/cli.js";

let store: LocalObjectStore;
let client: StoreClient;
const clients: StoreClient[] = [];

/** A client of its own, as another operator's machine has. */
function operator(prefix = "elm-infra/staging/"): StoreClient {
  const c = new StoreClient(store.location(prefix), store.credentials);
  clients.push(c);
  return c;
}

const lockOf = (c: StoreClient, who: string, command = "bring-up", ttlMs = 60_000) =>
  storeLock(c, "staging", command, who, { ttlMs });

const refusalOf = (p: Promise<unknown>) => p.then(() => undefined).catch((e: unknown) => e);

const leaseIn = async (c: StoreClient) =>
  JSON.parse((await c.get(leaseKey))?.body ?? "null") as Lease | null;

beforeAll(async () => {
  await ensureBuilt();
  store = await startObjectStore();
  client = operator();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await store?.stop();
});

describe("the lease lock in the store", () => {
  it("of six takers at once exactly one wins; the others are refused naming it", async () => {
    const takers = Array.from({ length: 6 }, (_, i) => lockOf(operator(), `op${i} on m${i}`));
    const results = await Promise.allSettled(takers.map((l) => l.acquire()));
    const won = results.flatMap((r, i) =>
      r.status === "fulfilled" ? [[i, r.value] as const] : [],
    );
    expect(won).toHaveLength(1);
    const [winner, held] = won[0]!;
    const lease = await leaseIn(client);
    expect(lease?.holder).toBe(`op${winner} on m${winner}`);
    for (const r of results) {
      if (r.status === "fulfilled") continue;
      expect(r.reason).toBeInstanceOf(LockHeldError);
      const refused = r.reason as LockHeldError;
      expect(refused.exitCode).toBe(3);
      expect(refused.message).toBe(
        `bring-up refused: bring-up by op${winner} on m${winner} (since ${lease!.since}) holds the operations lock of target staging`,
      );
      expect(refused.hint).toContain("--lock-wait");
    }
    await held.release();
    expect(await client.get(leaseKey)).toBeUndefined();
  });

  it("is renewed while held: a live holder's lease does not expire", async () => {
    const held = await lockOf(operator(), "ada on laptop", "scale", 2_000).acquire();
    const first = await leaseIn(client);
    await new Promise((r) => setTimeout(r, 3_500));
    const later = await leaseIn(client);
    expect(Date.parse(later!.expires)).toBeGreaterThan(Date.parse(first!.expires));
    expect(later!.since).toBe(first!.since);
    const refused = await refusalOf(lockOf(operator(), "bob on desk").acquire());
    expect((refused as LockHeldError).message).toContain("scale by ada on laptop");
    await held.release();
  });

  it("a lease past its expiry (its holder died) is taken over by exactly one of two takers", async () => {
    const dead: Lease = {
      holder: "carol on crashed",
      command: "reboot",
      target: "staging",
      since: "2026-01-01T00:00:00.000Z",
      expires: "2026-01-01T00:01:00.000Z",
    };
    await client.put(leaseKey, JSON.stringify(dead));
    const results = await Promise.allSettled([
      lockOf(operator(), "dan on a").acquire(),
      lockOf(operator(), "eve on b").acquire(),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const loser = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(loser.reason).toBeInstanceOf(LockHeldError);
    expect((loser.reason as Error).message).not.toContain("carol");
    expect(["dan on a", "eve on b"]).toContain((await leaseIn(client))?.holder);
    await (won[0] as PromiseFulfilledResult<HeldLock>).value.release();
  });

  it("a lease taken from under its holder is said, and that holder's release leaves it", async () => {
    const lost: string[] = [];
    const held = await storeLock(operator(), "staging", "upgrade", "fay on x", {
      ttlMs: 1_500,
      onLost: (m) => lost.push(m),
    }).acquire();
    // another operator's write over it (as a takeover after a long pause would be)
    await client.put(leaseKey, JSON.stringify({ ...(await leaseIn(client)), holder: "gus on y" }));
    // its next renewal (a third of the TTL, at least 1 s) finds the ETag changed
    await new Promise((r) => setTimeout(r, 2_500));
    expect(lost.join("\n")).toContain("was lost: another operator took it over");
    await held.release();
    expect((await leaseIn(client))?.holder).toBe("gus on y");
    await client.delete(leaseKey);
  });

  it("--lock-wait takes it once the holder releases it", async () => {
    const held = await lockOf(operator(), "hal on z").acquire();
    setTimeout(() => void held.release(), 1_000).unref();
    const began = Date.now();
    const mine = await waitingLock(lockOf(operator(), "ivy on w"), 20_000).acquire();
    expect(Date.now() - began).toBeGreaterThanOrEqual(900);
    expect((await leaseIn(client))?.holder).toBe("ivy on w");
    await mine.release();
  });
});

describe("the CLI on a target that keeps its lock in the store", () => {
  let local: LocalTarget;
  const target = `st-${randomBytes(3).toString("hex")}`;
  let env: Record<string, string>;
  let targetClient: StoreClient;

  beforeAll(async () => {
    local = await makeLocalTarget(target, {
      managers: 1,
      workers: 1,
      slot: randomBytes(1)[0]! % 40,
      subnetBase: 60,
      sshBase: 42_000,
      services: minimalServices,
    });
    const yaml = await readFile(local.config, "utf8");
    await writeFile(
      local.config,
      yaml.replace(
        "    snapshots:",
        `    store: { endpoint: "${store.endpoint}", bucket: ${store.bucket}, region: ${store.region} }\n    snapshots:`,
      ),
    );
    env = {
      CI: "true",
      AWS_ACCESS_KEY_ID: store.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey,
    };
    targetClient = operator(`elm-infra/${target}/`);
  });

  afterAll(async () => {
    if (local) await rm(local.work, { recursive: true, force: true });
  });

  const bringUp = (extra: string[], e: Record<string, string>, timeoutMs = 30_000) =>
    spawnCli(["bring-up", "--dry-run", "--config", local.config, "--target", target, ...extra], {
      cwd: local.work,
      env: e,
      timeoutMs,
    });

  it("without the store's access key: a configuration error (exit 2) naming the variables", async () => {
    const r = await bringUp([], { CI: "true" });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
  });

  it("a held lease refuses bring-up (exit 3) naming the holder; nothing written here", async () => {
    const held = await storeLock(
      targetClient,
      target,
      "bring-up",
      "jo@example.org on ci-7",
    ).acquire();
    const before = await folderTree(local.work);
    const r = await bringUp([], env);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain("bring-up by jo@example.org on ci-7 (since ");
    expect(r.stderr).toContain(`holds the operations lock of target ${target}`);
    expect(r.stderr).not.toContain(store.credentials.secretAccessKey);
    expect(r.stderr).not.toContain("Warning");
    expect(await folderTree(local.work)).toEqual(before);
    await held.release();
  });

  it("its OpenTofu state is the store's: a held state lockfile there stops the plan", async () => {
    // as another operator's `tofu apply` leaves it while it runs
    const lockfile = `${storeStateKey}.tflock`;
    await targetClient.put(
      lockfile,
      JSON.stringify({
        ID: "3f1c0e2a-0000-4000-8000-000000000001",
        Operation: "OperationTypeApply",
        Info: "",
        Who: "lee@other-machine",
        Version: "1.10.6",
        Created: new Date().toISOString(),
        Path: `${store.bucket}/elm-infra/${target}/${storeStateKey}`,
      }),
    );
    const r = await bringUp([], env, 300_000);
    await targetClient.delete(lockfile);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain("Error acquiring the state lock");
    // the lease was released all the same
    expect(await targetClient.get(leaseKey)).toBeUndefined();
  });

  it("with --lock-wait it goes ahead once the lease is released, and leaves none", async () => {
    const held = await storeLock(targetClient, target, "scale", "kim on laptop").acquire();
    setTimeout(() => void held.release(), 2_000).unref();
    const r = await bringUp(["--lock-wait", "2m", "--json"], env, 300_000);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('"outcome":"planned"');
    expect(r.ms).toBeGreaterThanOrEqual(2_000);
    expect(await targetClient.get(leaseKey)).toBeUndefined();
    expect(await targetClient.list()).toEqual([]);
  });
});
