/**
 * Off-site copies (issue 23 item 7) against a real S3-compatible server (versitygw on loopback):
 * a backup-shaped file of random bytes, a few MB, copied to the store by the task `backup` uses,
 * lies under backups/<service>/ with its SHA-256 as metadata; the copies beyond the retention
 * go, oldest first; the download `restore --from-store` uses gives back the same bytes (SHA-256
 * compared); an object damaged in the store is refused with no file left, and a file already
 * here stays as it was; a cluster snapshot pair is copied and listed, its retention by pair.
 * About 5 s.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperationError } from "../../src/errors.js";
import { backupFileName } from "../../src/plan/package-data.js";
import { StoreClient, StoreError } from "../../src/store/client.js";
import {
  copyBackupToStore,
  copyClusterSnapshotToStore,
  fetchBackupFromStore,
  sha256OfFile,
} from "../../src/tasks/offsite.js";
import { startObjectStore, type LocalObjectStore } from "../harness/object-store.js";

const service = "package.elm-lang.org";
const prefix = "elm-infra/offsite/";
let store: LocalObjectStore;
let client: StoreClient;
let here: string;
const log: string[] = [];
const logLine = (l: string) => log.push(l);

/** A backup-shaped file of random bytes taken `hour` hours into 2026-12-01. */
async function backupFile(hour: number, bytes: number): Promise<string> {
  const file = join(here, backupFileName(service, new Date(Date.UTC(2026, 11, 1, hour))));
  await writeFile(file, randomBytes(bytes));
  return file;
}

beforeAll(async () => {
  store = await startObjectStore();
  client = new StoreClient(store.location(prefix), store.credentials);
  here = await mkdtemp(join(tmpdir(), "elm-infra-offsite-"));
});

afterAll(async () => {
  client?.close();
  await store?.stop();
  if (here) await rm(here, { recursive: true, force: true });
});

describe("a service's backup copied to the store", () => {
  let file: string;
  let sha256: string;

  it("lies under backups/<service>/ with its SHA-256, the older copies beyond the retention gone", async () => {
    const older = [await backupFile(1, 1000), await backupFile(2, 1000), await backupFile(3, 1000)];
    for (const f of older)
      await copyBackupToStore(client, { service, file: f, keep: 3, log: logLine });
    // a stray object in the folder is neither counted nor removed
    await client.put(`backups/${service}/README`, "not a backup");
    file = await backupFile(4, 5 * 1024 * 1024 + 17);
    sha256 = await sha256OfFile(file);
    const copy = await copyBackupToStore(client, { service, file, keep: 3, log: logLine });
    const key = `backups/${service}/${service}-20261201T040000Z.tar.gz`;
    expect(copy).toEqual({
      store: client.name,
      key,
      kept: 3,
      removed: [`backups/${service}/${service}-20261201T010000Z.tar.gz`],
    });
    expect(await client.head(key)).toEqual({ bytes: 5 * 1024 * 1024 + 17, metadata: { sha256 } });
    expect((await client.list(`backups/${service}/`)).sort()).toEqual([
      `backups/${service}/README`,
      `backups/${service}/${service}-20261201T020000Z.tar.gz`,
      `backups/${service}/${service}-20261201T030000Z.tar.gz`,
      key,
    ]);
    expect(log.join("\n")).not.toContain(store.credentials.secretAccessKey);
  });

  it("comes back byte for byte through restore's download", async () => {
    const dir = join(here, "restored");
    await mkdir(dir);
    const fetched = await fetchBackupFromStore(client, {
      key: `backups/${service}/${service}-20261201T040000Z.tar.gz`,
      dir,
    });
    expect(fetched).toEqual({
      file: join(dir, `${service}-20261201T040000Z.tar.gz`),
      bytes: 5 * 1024 * 1024 + 17,
      sha256,
    });
    expect(await sha256OfFile(fetched.file)).toBe(sha256);
    expect((await readFile(fetched.file)).equals(await readFile(file))).toBe(true);
    expect(await readdir(dir)).toEqual([`${service}-20261201T040000Z.tar.gz`]);
  });

  it("damaged in the store, is refused: no file left, one already here unchanged", async () => {
    const key = `backups/${service}/${service}-20261201T030000Z.tar.gz`;
    // one byte flipped in place in versitygw's own file: the size and the metadata stay
    const object = await open(join(store.dir, "data", store.bucket, prefix, key), "r+");
    try {
      const byte = Buffer.alloc(1);
      await object.read(byte, 0, 1, 500);
      byte[0] = byte[0]! ^ 0xff;
      await object.write(byte, 0, 1, 500);
    } finally {
      await object.close();
    }
    const dir = join(here, "damaged");
    await mkdir(dir);
    const refused = await fetchBackupFromStore(client, { key, dir }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OperationError);
    expect((refused as OperationError).exitCode).toBe(1);
    expect((refused as OperationError).message).toMatch(
      new RegExp(
        `the store's ${key.replace(/\./g, "\\.")} is damaged: 1000 bytes with SHA-256 [0-9a-f]{64}, where 1000 bytes with SHA-256 [0-9a-f]{64} were copied there`,
      ),
    );
    expect(await readdir(dir)).toEqual([]);

    // a copy with no SHA-256 recorded (not elm-infra's) is refused too; the file here stays
    const previous = join(dir, `${service}-20261201T020000Z.tar.gz`);
    await writeFile(previous, "the copy here");
    await client.put(`backups/${service}/${service}-20261201T020000Z.tar.gz`, "replaced");
    await expect(
      fetchBackupFromStore(client, {
        key: `backups/${service}/${service}-20261201T020000Z.tar.gz`,
        dir,
      }),
    ).rejects.toThrow(/has no SHA-256 recorded with it/);
    expect(await readdir(dir)).toEqual([`${service}-20261201T020000Z.tar.gz`]);
    expect(await readFile(previous, "utf8")).toBe("the copy here");
  });

  it("a missing copy, or a store that refuses the key, fails naming the store", async () => {
    await expect(
      fetchBackupFromStore(client, { key: `backups/${service}/nope.tar.gz`, dir: here }),
    ).rejects.toThrow(StoreError);
    const denied = new StoreClient(store.location(prefix), {
      accessKeyId: store.credentials.accessKeyId,
      secretAccessKey: "not-the-secret",
    });
    const failure = await copyBackupToStore(denied, {
      service,
      file,
      keep: 3,
      log: logLine,
    }).catch((e: unknown) => e);
    denied.close();
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).message).toContain(`at ${store.endpoint}`);
    expect((failure as StoreError).message).not.toContain("not-the-secret");
  });
});

describe("the cluster's snapshot pairs copied to the store", () => {
  it("are listed under backups/cluster/<name>/, the older pairs beyond the retention gone", async () => {
    const copies = [];
    for (const hour of [1, 2, 3]) {
      const name = `cluster-20261201T0${hour}0000Z`;
      const dir = join(here, name);
      await mkdir(dir);
      const files = [join(dir, "nomad.snap.age"), join(dir, "consul.snap.age")];
      for (const f of files) await writeFile(f, randomBytes(64 * 1024));
      copies.push(await copyClusterSnapshotToStore(client, { name, files, keep: 2, log: logLine }));
    }
    expect(copies.map((c) => [c.key, c.kept, c.removed])).toEqual([
      ["backups/cluster/cluster-20261201T010000Z/", 1, []],
      ["backups/cluster/cluster-20261201T020000Z/", 2, []],
      [
        "backups/cluster/cluster-20261201T030000Z/",
        2,
        [
          "backups/cluster/cluster-20261201T010000Z/consul.snap.age",
          "backups/cluster/cluster-20261201T010000Z/nomad.snap.age",
        ],
      ],
    ]);
    expect((await client.list("backups/cluster/")).sort()).toEqual([
      "backups/cluster/cluster-20261201T020000Z/consul.snap.age",
      "backups/cluster/cluster-20261201T020000Z/nomad.snap.age",
      "backups/cluster/cluster-20261201T030000Z/consul.snap.age",
      "backups/cluster/cluster-20261201T030000Z/nomad.snap.age",
    ]);
    const nomad = join(here, "cluster-20261201T030000Z", "nomad.snap.age");
    expect(
      (await client.head("backups/cluster/cluster-20261201T030000Z/nomad.snap.age"))?.metadata,
    ).toEqual({ sha256: await sha256OfFile(nomad) });
    // the service's copies are another kind: untouched by the pairs' retention
    expect(await client.list(`backups/${service}/`)).toHaveLength(4);
  });
});
