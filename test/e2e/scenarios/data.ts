/**
 * The package site's data on the shared cluster (issue 11, part 6): packages published through
 * the load balancer survive a redeploy and a restart of the site; `backup` takes one inside the
 * cluster and copies it here and to the target's store (issue 23: off-site, its SHA-256 recorded);
 * `restore --from-store` into an emptied volume, this machine's copy deleted first, brings back
 * the store's copy (checked against the SHA-256 of the backup taken) and byte-identical files.
 * The volume's moves are proven where hosts change: replace of the holder and its loss
 * (scenarios/scale.ts). Leaves 1 manager and 2 workers, both sites serving.
 */
import { rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { expect, it } from "vitest";
import type { BackupResult } from "../../../src/commands/backup.js";
import type { RestoreResult } from "../../../src/commands/restore.js";
import { backupJobId } from "../../../src/plan/package-data.js";
import { serviceBackupsPrefix, sha256Metadata } from "../../../src/plan/offsite.js";
import { sha256OfFile } from "../../../src/tasks/offsite.js";
import {
  deployFromFixtures,
  docker,
  e2e,
  e2eStoreClient,
  elmInfra,
  ensureDeployed,
  errorOf,
  resultOf,
  packageDataHolder as holder,
  throughLoadBalancer,
  volumeSums,
  withE2eCluster,
} from "../support.js";

const site = "package.elm-lang.org";
const published = new Map<string, string>();
/** The backup `backup` took: its file here, SHA-256, and key in the store. */
let takenHere: { file: string; sha256: string; key: string } | undefined;

/** PUT or GET a package file through the load balancer, as a publisher or a visitor would. */
async function packageFile(path: string, body?: string): Promise<{ status: number; text: string }> {
  const res = await throughLoadBalancer(site, path, {
    method: body === undefined ? "GET" : "PUT",
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, text: res.text };
}

async function publish(author: string, n: number): Promise<void> {
  const path = `/packages/${author}/pkg${n}/1.0.${n}/elm.json`;
  const body = JSON.stringify({ name: `${author}/pkg${n}`, version: `1.0.${n}`, at: Date.now() });
  expect((await packageFile(path, body)).status).toBe(201);
  published.set(path, body);
}

async function expectAllPublished(): Promise<void> {
  for (const [path, body] of published)
    expect(await packageFile(path)).toEqual({ status: 200, text: body });
}

/**
 * Until a published file answers 200 ten times in a row through the load balancer (both workers'
 * Traefik see the restarted site; one may learn it from Consul a moment after the other), bounded.
 */
async function untilServing(): Promise<void> {
  const path = [...published.keys()][0]!;
  let streak = 0;
  for (let i = 0; i < 300 && streak < 10; i++) {
    streak = (await packageFile(path).catch(() => ({ status: 0 }))).status === 200 ? streak + 1 : 0;
    if (streak < 10) await new Promise((r) => setTimeout(r, 200));
  }
  if (streak < 10) throw new Error(`${site} did not serve ${path} steadily within 60 s`);
}

/** The backup job as Nomad has it: its version, meta (the holder it avoids) and constraints. */
async function backupJobPlacement(): Promise<unknown> {
  return withE2eCluster(async (apis) => {
    const job = await apis.nomad.readJob(backupJobId(site));
    return {
      version: job?.Version,
      meta: job?.Meta,
      groups: JSON.stringify(job?.TaskGroups).slice(0, 600),
    };
  });
}

export function dataScenarios(): void {
  it("packages published through the load balancer are all there after a redeploy (1.0.1) and a restart of the site", async () => {
    await ensureDeployed({ [site]: "1.0.0" });
    const first = await holder();
    expect(first).toMatch(/-worker-\d+$/);
    for (let n = 1; n <= 3; n++) await publish("alice", n);
    for (const path of ["/packages/alice/..%2f..%2fetc/1.0.0/x", "/packages/alice/.evil/1.0.0/x"])
      expect((await packageFile(path, "no")).status, path).not.toBe(201);

    const redeploy = await deployFromFixtures(site, "1.0.1");
    expect(redeploy.exitCode, errorOf(redeploy)).toBe(0);
    await expectAllPublished();

    // The site's container killed on its worker: Nomad starts it again on the same volume.
    // Nomad names a task's container <task>-<allocation id>.
    const container = await docker(
      "exec",
      first,
      "docker",
      "ps",
      "-q",
      "--filter",
      "name=^server-",
    );
    expect(container).not.toBe("");
    // One container a line: the site's, and maybe an old version's still finishing its
    // shutdown, which may be gone by now: each killed on its own, the site's at least.
    const killed = await docker(
      "exec",
      first,
      "sh",
      "-c",
      `for c in ${container.split("\n").join(" ")}; do docker kill "$c" 2>/dev/null; done; true`,
    );
    expect(killed).not.toBe("");
    await new Promise((r) => setTimeout(r, 1000));
    await untilServing();
    await expectAllPublished();
  });

  it("backup takes one inside the cluster, off the site's worker, copies it to this machine and to the target's store (its SHA-256 recorded there)", async () => {
    await publish("bob", 1);
    const r = await elmInfra(["backup", site]);
    expect(r.exitCode, errorOf(r)).toBe(0);
    const taken = resultOf<BackupResult>(r);
    const dataHolder = await holder();
    // When it ran on the holder all the same: what its job said, and what the run logged.
    const said =
      taken.host === dataHolder
        ? `${JSON.stringify(await backupJobPlacement())}\n${r.events
            .filter((e) => e.type === "log")
            .map((e) => JSON.stringify(e).slice(0, 200))
            .join("\n")}`
        : "";
    expect(taken.host, said).not.toBe(dataHolder);
    expect(taken.files).toBeGreaterThanOrEqual(published.size);
    expect((await stat(taken.file)).size).toBe(taken.bytes);
    expect(taken.file).toContain(join(".elm-infra", e2e.target, "backups"));
    expect(Date.parse(taken.recoveryPoint)).toBeGreaterThan(Date.now() - 300_000);
    // The off-site copy (issue 23): under the service's backups in the store, with the SHA-256
    // of the file here, read back through the S3 API.
    expect(taken.offsite?.key).toBe(serviceBackupsPrefix(site) + basename(taken.file));
    takenHere = {
      file: taken.file,
      sha256: await sha256OfFile(taken.file),
      key: taken.offsite!.key,
    };
    const client = e2eStoreClient();
    try {
      const head = await client.head(takenHere.key);
      expect(head).toEqual({
        bytes: taken.bytes,
        metadata: expect.objectContaining({ [sha256Metadata]: takenHere.sha256 }),
      });
    } finally {
      client.close();
    }
  });

  // Issue 23: the backup restored is the store's copy; this machine's is gone first (as on a
  // machine that lost it), so nothing but the store can give it back.
  it("restore --from-store into an emptied volume brings back the store's copy (its SHA-256 that of the backup taken) and byte-identical data, with the recovery point", async () => {
    const host = await holder();
    const before = await volumeSums(host);
    expect(before.split("\n").length).toBeGreaterThanOrEqual(published.size);
    await docker("exec", host, "sh", "-c", "rm -rf /srv/package-data/*");
    expect((await packageFile([...published.keys()][0]!)).status).toBe(404);
    await rm(takenHere!.file);

    const refused = await elmInfra(["restore", site, "--from-store"]);
    expect(refused.exitCode).toBe(2);
    const r = await elmInfra(["restore", site, "--from-store", "--yes"]);
    expect(r.exitCode, errorOf(r)).toBe(0);
    const restored = resultOf<RestoreResult>(r);
    expect(restored.backup).toBe(`store:${takenHere!.key}`);
    // brought back here under its own name, the same bytes as the backup taken
    expect(await sha256OfFile(takenHere!.file)).toBe(takenHere!.sha256);
    expect(restored.host).toBe(host);
    expect(restored.files).toBe(before.split("\n").length);
    console.log(`restore: recovery point ${restored.recoveryPoint}, down ${restored.downMs} ms`);
    expect(await volumeSums(host)).toBe(before);
    await untilServing();
    await expectAllPublished();
  });
}
