/**
 * Issue 22, item 4: the cluster's own state backed up. bring-up scheduled the periodic
 * cluster-snapshot job (and took a first snapshot); `backup cluster` forces one now and copies the
 * pair here. The files hold no secret in the clear; decrypted with the secrets file's identity by
 * the real `age`, the real `nomad operator snapshot inspect` and `consul snapshot inspect` accept
 * them; status gives the newest one's age; the job runs on workers only, and each worker keeps
 * at most the configured number (the test targets keep 1: test/harness/local-target.ts).
 * Runs before the secrets audit, which then searches these files too (and the workers' folders).
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { expect, it } from "vitest";
import { connectToCluster } from "../../../src/cluster/connect.js";
import { loadConfig } from "../../../src/config/load.js";
import type { ClusterBackupResult } from "../../../src/commands/backup.js";
import type { StatusResult } from "../../../src/commands/status.js";
import {
  clusterSnapshotJobId,
  clusterSnapshotsPath,
  snapshotSettings,
} from "../../../src/plan/cluster-snapshots.js";
import { toolPath } from "../../harness/agents.js";
import { findSecrets } from "../../harness/secret-search.js";
import { docker, e2e, elmInfra, errorOf, hostNames, resultOf } from "../support.js";
import { readSecretsFile } from "./secrets.js";

/** Decrypts `file` with the identity given on a pipe (never written to a file), into `out`. */
async function decrypt(identity: string, file: string, out: string): Promise<void> {
  await execa("bash", ["-c", 'age -d -i <(printf %s "$IDENTITY") -o "$2" "$1"', "-", file, out], {
    env: { IDENTITY: identity },
  });
}

/** The raft index a real `inspect` reports for a decrypted snapshot. */
async function inspectedIndex(tool: "nomad" | "consul", file: string): Promise<number> {
  const argv =
    tool === "nomad" ? ["operator", "snapshot", "inspect", file] : ["snapshot", "inspect", file];
  const { stdout } = await execa(toolPath(tool), argv);
  return Number(/^\s*Index\s*=?\s*(\d+)/m.exec(String(stdout))?.[1] ?? 0);
}

/** The snapshot step's time in each completed bring-up so far (its JSON task events). */
function bringUpStepTimes(): number[] {
  return e2e.outputs
    .filter((o) => o.startsWith("bring-up "))
    .flatMap((o) =>
      o
        .split("\n")
        .filter((l) => l.startsWith("{") && /the cluster's snapshots/i.test(l))
        .map((l) => JSON.parse(l) as { state?: string; ms?: number })
        .filter((e) => e.state === "completed" && typeof e.ms === "number")
        .map((e) => e.ms!),
    );
}

export function clusterSnapshotScenarios(): void {
  it("the cluster's own state: `backup cluster` copies Nomad's and Consul's snapshots here, encrypted; decrypted with the secrets' identity the real tools read them; status gives their age; the job runs on workers, each keeping at most N", async () => {
    const began = Date.now();
    const r = await elmInfra(["backup", "cluster"]);
    expect(r.exitCode, errorOf(r)).toBe(0);
    const taken = resultOf<ClusterBackupResult>(r);
    expect(taken.dir).toBe(join(e2e.work, ".elm-infra", e2e.target, "backups", taken.name));
    expect(taken.host).toMatch(/-worker-\d+$/);
    expect(taken.files.map((f) => f.system)).toEqual(["nomad", "consul"]);

    const secrets = await readSecretsFile();
    const identity = secrets.clusterSnapshotIdentity!;
    expect(identity).toMatch(/^AGE-SECRET-KEY-1/);
    const plain = await mkdtemp(join(tmpdir(), "elm-infra-snapshots-"));
    try {
      for (const f of taken.files) {
        expect(f.file).toBe(join(taken.dir, `${f.system}.snap.age`));
        const info = await stat(f.file);
        expect(info.size).toBe(f.bytes);
        expect(info.mode & 0o077).toBe(0);
        const data = await readFile(f.file);
        // Nothing in the clear: no secrets file value in any form, no PEM, no token-like UUID.
        expect(data.subarray(0, 22).toString()).toBe("age-encryption.org/v1\n");
        expect(findSecrets([{ where: f.file, data }], secrets)).toEqual([]);
        expect(data.includes("-----BEGIN")).toBe(false);
        expect(
          /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.test(
            data.toString("latin1"),
          ),
        ).toBe(false);
        // Whole snapshots once decrypted: the real programs read them, at the index the run said.
        const out = join(plain, `${f.system}.snap`);
        await decrypt(identity, f.file, out);
        const index = await inspectedIndex(f.system, out);
        expect(index).toBeGreaterThan(0);
        expect(f.index).toBe(index);
      }
    } finally {
      // The decrypted snapshots hold the cluster's tokens: gone at once.
      await rm(plain, { recursive: true, force: true });
    }

    // status: the newest snapshot's age, fresh; --check finds nothing to say about it.
    const s = await elmInfra(["status", "--check"]);
    const status = resultOf<StatusResult>(s);
    expect(status.clusterSnapshots, errorOf(s)).toMatchObject({ scheduled: true, keep: 1 });
    const newest = Date.parse(status.clusterSnapshots!.newestAt!);
    // The run's folder is named when the job starts, a few seconds before `backup cluster` says
    // it was taken (a run of 2026-12-06 saw 5.2 s): within 30 s is the same run.
    expect(newest).toBeGreaterThanOrEqual(Date.parse(taken.takenAt) - 30_000);
    expect(Date.now() - newest).toBeLessThan(120_000);
    expect(
      (status.degradations ?? []).filter((d) => d.subject.startsWith("cluster snapshots")),
    ).toEqual([]);

    // One more run: with bring-up's first, three runs over two workers, so one worker ran twice.
    const again = await elmInfra(["backup", "cluster"]);
    expect(again.exitCode, errorOf(again)).toBe(0);
    const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
    const { keep } = snapshotSettings(loaded.target, e2e.target);
    expect(keep).toBe(1);
    const apis = await connectToCluster(loaded);
    let succeeded = 0;
    try {
      const job = await apis.nomad.readJob(clusterSnapshotJobId);
      expect(job?.Type).toBe("batch");
      const runs = await apis.nomad.jobsWithPrefix(`${clusterSnapshotJobId}/periodic-`);
      for (const run of runs) {
        const { data: allocs } = await apis.nomad.jobAllocations(run.ID);
        for (const a of allocs) {
          expect(a.NodeName).toMatch(/-worker-\d+$/);
          if (a.ClientStatus === "complete") succeeded++;
        }
      }
    } finally {
      await apis.close();
    }
    expect(succeeded).toBeGreaterThanOrEqual(3);
    const workers = (await hostNames()).split("\n").filter((n) => n.includes("-worker-"));
    let kept = 0;
    for (const worker of workers) {
      const listing = await docker("exec", worker, "ls", "-A", clusterSnapshotsPath);
      const entries = listing.split("\n").filter((l) => l);
      expect(entries.filter((e) => !/^cluster-\d{8}T\d{6}Z$/.test(e))).toEqual([]);
      expect(entries.length).toBeLessThanOrEqual(keep);
      kept += entries.length;
      expect(await docker("exec", worker, "stat", "-c", "%a", clusterSnapshotsPath)).toBe("700");
    }
    // The pruning ran: fewer pairs are kept than were taken.
    expect(kept).toBeLessThan(succeeded);
    e2e.timings["cluster snapshots (scenario)"] = Date.now() - began;
    // What the step costs each bring-up so far (the first one pushes the image, takes a snapshot).
    bringUpStepTimes().forEach((ms, i) => {
      e2e.timings[`bring-up ${i + 1}: the cluster's snapshots step`] = ms;
    });
  });
}
