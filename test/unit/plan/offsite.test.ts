import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import {
  backupKey,
  chooseClusterCopiesToRemove,
  chooseServiceCopiesToRemove,
  chooseStoreBackup,
  clusterSnapshotKey,
  defaultKeepBackups,
  keepBackupsOf,
} from "../../../src/plan/offsite.js";

const pkg = "package.elm-lang.org";
const copy = (stamp: string) => `backups/${pkg}/${pkg}-${stamp}.tar.gz`;
const pair = (stamp: string) => [
  `backups/cluster/cluster-${stamp}/consul.snap.age`,
  `backups/cluster/cluster-${stamp}/nomad.snap.age`,
];

describe("the keys of off-site copies", () => {
  it("are the file's own name under the service's folder, or the pair's folder under cluster", () => {
    expect(backupKey(pkg, `/x/.elm-infra/local/backups/${pkg}-20260101T000000Z.tar.gz`)).toBe(
      copy("20260101T000000Z"),
    );
    expect(
      clusterSnapshotKey("cluster-20260101T000000Z", "/x/cluster-20260101T000000Z/nomad.snap.age"),
    ).toBe("backups/cluster/cluster-20260101T000000Z/nomad.snap.age");
  });
});

describe("the retention of a service's copies", () => {
  const cases: Array<{
    name: string;
    keys: string[];
    keep: number;
    remove: string[];
    kept: number;
  }> = [
    { name: "none in the store", keys: [], keep: 3, remove: [], kept: 0 },
    {
      name: "fewer than kept: nothing goes",
      keys: [copy("20260102T000000Z"), copy("20260101T000000Z")],
      keep: 3,
      remove: [],
      kept: 2,
    },
    {
      name: "the oldest beyond keep go, whatever the listing's order",
      keys: [
        copy("20260103T000000Z"),
        copy("20260101T000000Z"),
        copy("20260104T000000Z"),
        copy("20260102T000000Z"),
      ],
      keep: 2,
      remove: [copy("20260102T000000Z"), copy("20260101T000000Z")],
      kept: 2,
    },
    {
      name: "keys not named as its backups are neither counted nor removed",
      keys: [
        copy("20260101T000000Z"),
        copy("20260102T000000Z"),
        `backups/${pkg}/notes.txt`,
        `backups/${pkg}/${pkg}-20250101T000000Z.tar.gz.part`,
        `backups/${pkg}/old/${pkg}-20200101T000000Z.tar.gz`,
        `backups/elm-lang.org/elm-lang.org-20200101T000000Z.tar.gz`,
        `backups/cluster/cluster-20200101T000000Z/nomad.snap.age`,
      ],
      keep: 1,
      remove: [copy("20260101T000000Z")],
      kept: 1,
    },
  ];
  it.each(cases)("$name", ({ keys, keep, remove, kept }) => {
    const choice = chooseServiceCopiesToRemove(pkg, keys, keep);
    expect(choice.remove).toEqual(remove);
    expect(choice.kept).toHaveLength(kept);
  });
});

describe("the retention of the cluster's snapshot pairs", () => {
  it("keeps the newest pairs and removes both files of each older one", () => {
    const keys = [
      ...pair("20260101T000000Z"),
      ...pair("20260103T000000Z"),
      ...pair("20260102T000000Z"),
      "backups/cluster/cluster-20250101T000000Z/notes.txt",
      "backups/cluster/stray.snap.age",
      `backups/${pkg}/${pkg}-20200101T000000Z.tar.gz`,
    ];
    expect(chooseClusterCopiesToRemove(keys, 2)).toEqual({
      kept: ["cluster-20260103T000000Z", "cluster-20260102T000000Z"],
      remove: pair("20260101T000000Z"),
    });
    expect(chooseClusterCopiesToRemove(keys, 5).remove).toEqual([]);
  });

  it("removes a pair that has only one file left too", () => {
    const keys = [...pair("20260102T000000Z"), pair("20260101T000000Z")[1]!];
    expect(chooseClusterCopiesToRemove(keys, 1).remove).toEqual([pair("20260101T000000Z")[1]]);
  });
});

describe("the copy a restore takes from the store", () => {
  const keys = [copy("20260101T000000Z"), copy("20260103T000000Z"), copy("20260102T000000Z")];

  it("is the newest without a name", () => {
    expect(chooseStoreBackup(pkg, keys)).toBe(copy("20260103T000000Z"));
  });

  it("is the one named, by its file name or its key", () => {
    expect(chooseStoreBackup(pkg, keys, `${pkg}-20260101T000000Z.tar.gz`)).toBe(
      copy("20260101T000000Z"),
    );
    expect(chooseStoreBackup(pkg, keys, copy("20260102T000000Z"))).toBe(copy("20260102T000000Z"));
  });

  it.each([
    { name: "no copy at all", keys: [], named: undefined, message: /holds no backup of package/ },
    {
      name: "a name the store lacks",
      keys,
      named: `${pkg}-20250101T000000Z.tar.gz`,
      message: /holds no backups\/package\.elm-lang\.org\/package\.elm-lang\.org-20250101T000000Z/,
    },
    {
      name: "a name not a backup's",
      keys,
      named: "notes.txt",
      message: /is not named as a backup/,
    },
    {
      name: "another service's copy",
      keys: [`backups/elm-lang.org/${pkg}-20260101T000000Z.tar.gz`],
      named: undefined,
      message: /holds no backup/,
    },
  ])("is refused (usage) for $name", ({ keys, named, message }) => {
    const refusal = (() => {
      try {
        return chooseStoreBackup(pkg, keys, named);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(UsageError);
    expect((refusal as UsageError).message).toMatch(message);
  });

  it("names the store's copies, newest first, when the one named is missing", () => {
    expect(() => chooseStoreBackup(pkg, keys, `${pkg}-20250101T000000Z.tar.gz`)).toThrow(
      expect.objectContaining({
        hint: `the store's copies: ${pkg}-20260103T000000Z.tar.gz, ${pkg}-20260102T000000Z.tar.gz, ${pkg}-20260101T000000Z.tar.gz`,
      }),
    );
  });
});

describe("store.keepBackups", () => {
  it("defaults to 7 and is taken from the target's store", () => {
    expect(defaultKeepBackups).toBe(7);
    const store = { endpoint: "http://127.0.0.1:7070", bucket: "b-1", region: "us-east-1" };
    expect(keepBackupsOf({ store })).toBe(7);
    expect(keepBackupsOf({ store: { ...store, keepBackups: 3 } })).toBe(3);
    expect(keepBackupsOf({})).toBe(7);
  });
});
