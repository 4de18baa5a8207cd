import { describe, expect, it } from "vitest";
import {
  formatBackup,
  formatClusterBackup,
  type BackupResult,
  type ClusterBackupResult,
} from "../../../src/commands/backup.js";
import { transferTimeoutMs } from "../../../src/store/client.js";

const pkg = "package.elm-lang.org";
const taken: Omit<BackupResult, "offsite"> = {
  service: pkg,
  file: `/w/.elm-infra/production/backups/${pkg}-20261201T040000Z.tar.gz`,
  host: "production-worker-2",
  remoteFile: `/srv/package-backups/${pkg}-20261201T040000Z.tar.gz`,
  bytes: 5_242_897,
  files: 120,
  recoveryPoint: "2026-12-01T04:00:00.000Z",
};
const store = "s3://elm-state/elm-infra/production/ at https://fra1.digitaloceanspaces.com";

describe("backup's output about the off-site copy", () => {
  it("names the key in the store, how many are kept and how many older went", () => {
    const text = formatBackup({
      ...taken,
      offsite: {
        store,
        key: `backups/${pkg}/${pkg}-20261201T040000Z.tar.gz`,
        kept: 7,
        removed: [`backups/${pkg}/${pkg}-20261124T040000Z.tar.gz`],
      },
    });
    expect(text.split("\n").at(-1)).toBe(
      `  in the store: backups/${pkg}/${pkg}-20261201T040000Z.tar.gz (${store}; 7 kept, 1 older removed)`,
    );
  });

  it("says there is none on a target without a store", () => {
    expect(
      formatBackup({ ...taken, offsite: null })
        .split("\n")
        .at(-1),
    ).toBe("  off-site: none (the target has no store)");
  });

  it("ends the cluster pair's lines with the store's folder", () => {
    const pair: ClusterBackupResult = {
      name: "cluster-20261201T040000Z",
      takenAt: "2026-12-01T04:00:00.000Z",
      host: "production-worker-1",
      remoteDir: "/srv/cluster-snapshots/cluster-20261201T040000Z",
      dir: "/w/.elm-infra/production/backups/cluster-20261201T040000Z",
      files: [],
      decrypt: "age -d",
      offsite: { store, key: "backups/cluster/cluster-20261201T040000Z/", kept: 2, removed: [] },
    };
    expect(formatClusterBackup(pair).split("\n").at(-1)).toBe(
      `  in the store: backups/cluster/cluster-20261201T040000Z/ (${store}; 2 kept)`,
    );
  });
});

describe("a transfer's time limit", () => {
  it.each([
    [0, 60_000],
    [262_144, 61_000],
    [5 * 1024 ** 3, 60_000 + 20_480_000],
    [10 * 1024 ** 4, 6 * 3_600_000],
  ])("%i bytes: %i ms", (bytes, ms) => {
    expect(transferTimeoutMs(bytes)).toBe(ms);
  });
});
