import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  admitThroughFirewallCommand,
  judgeManagersLost,
  newestSnapshot,
  type ManagersLostEvidence,
  type SnapshotCandidate,
} from "../../../src/plan/disaster.js";

const silentServers = [
  { host: "t-worker-1", leader: false, said: "No cluster leader" },
  { host: "t-worker-2", leader: false, said: "no known Consul servers" },
];
const base: ManagersLostEvidence = {
  managers: ["t-manager-1"],
  machinesGone: ["t-manager-1"],
  sshSilent: [],
  serversAsked: silentServers,
};

describe("judgeManagersLost: every manager's machine gone AND no server answers through any host", () => {
  it.each<[string, Partial<ManagersLostEvidence>, boolean, RegExp]>([
    ["the only manager gone, no server answers", {}, true, /every manager's machine is gone/],
    [
      "three managers, all gone",
      { managers: ["m-1", "m-2", "m-3"], machinesGone: ["m-1", "m-2", "m-3", "t-worker-9"] },
      true,
      /m-1, m-2, m-3/,
    ],
    [
      "one of three still there",
      { managers: ["m-1", "m-2", "m-3"], machinesGone: ["m-1", "m-3"] },
      false,
      /m-2: machine still there/,
    ],
    [
      "a manager only silent on SSH (a slow sshd is no proof)",
      { machinesGone: [], sshSilent: ["t-manager-1"] },
      false,
      /machine still there/,
    ],
    [
      "a server still answers through a worker",
      {
        serversAsked: [silentServers[0]!, { host: "t-worker-2", leader: true, said: "leader" }],
      },
      false,
      /answers through t-worker-2/,
    ],
    ["no host left to ask", { serversAsked: [] }, false, /no remaining host/],
    ["no manager recorded", { managers: [] }, false, /no manager/],
  ])("%s", (_, change, lost, why) => {
    const verdict = judgeManagersLost({ ...base, ...change });
    expect(verdict.lost).toBe(lost);
    expect(verdict.why).toMatch(why);
  });
});

describe("newestSnapshot: the newest whole pair, the copy here before a worker's", () => {
  const pair = ["nomad.snap.age", "consul.snap.age"];
  const c = (name: string, where: string, files = pair): SnapshotCandidate => ({
    name,
    where,
    files,
  });
  it.each<[string, SnapshotCandidate[], SnapshotCandidate | undefined]>([
    ["none", [], undefined],
    [
      "the newest by its name's time",
      [c("cluster-20261206T100000Z", "here"), c("cluster-20261206T110000Z", "t-worker-2")],
      c("cluster-20261206T110000Z", "t-worker-2"),
    ],
    [
      "a pair missing its Consul file is skipped",
      [
        c("cluster-20261206T100000Z", "here"),
        c("cluster-20261206T110000Z", "t-worker-1", ["nomad.snap.age"]),
      ],
      c("cluster-20261206T100000Z", "here"),
    ],
    [
      "the same pair here and on a worker: the one here",
      [c("cluster-20261206T110000Z", "t-worker-1"), c("cluster-20261206T110000Z", "here")],
      c("cluster-20261206T110000Z", "here"),
    ],
    [
      "a folder not named by a time (a partial run) is skipped",
      [c(".partial-cluster-20261206T120000Z", "t-worker-1"), c("cluster-20261206T110000Z", "here")],
      c("cluster-20261206T110000Z", "here"),
    ],
  ])("%s", (_, candidates, newest) => {
    expect(newestSnapshot(candidates)).toEqual(newest);
  });
});

describe("admitThroughFirewallCommand: the new managers into a worker's cluster_sources set", () => {
  // The command as a host's shell runs it, with an `nft` that records its arguments and has the
  // table or not: what reaches nft, and what the step reads back.
  const run = (addresses: string[], hasTable: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), "elm-infra-nft-"));
    const nft = join(dir, "nft");
    writeFileSync(
      nft,
      `#!/bin/sh\necho "$*" >>"${dir}/calls"\n[ "$1" = list ] && exit ${hasTable ? 0 : 1}\nexit 0\n`,
      { mode: 0o755 },
    );
    const r = spawnSync("sh", ["-c", admitThroughFirewallCommand(addresses)], {
      env: { PATH: `${dir}:${process.env.PATH}` },
      encoding: "utf8",
    });
    const calls = existsSync(join(dir, "calls"))
      ? readFileSync(join(dir, "calls"), "utf8").trim().split("\n")
      : [];
    rmSync(dir, { recursive: true, force: true });
    return { stdout: r.stdout.trim(), status: r.status, calls };
  };

  it("adds every address to the set when the host has the table", () => {
    expect(run(["10.150.0.12", "10.150.0.13"], true)).toEqual({
      stdout: "admitted",
      status: 0,
      calls: [
        "list set inet elm_infra cluster_sources",
        "add element inet elm_infra cluster_sources { 10.150.0.12, 10.150.0.13 }",
      ],
    });
  });

  it("changes nothing on a host without the firewall's table", () => {
    expect(run(["10.150.0.12"], false)).toEqual({
      stdout: "no firewall",
      status: 0,
      calls: ["list set inet elm_infra cluster_sources"],
    });
  });

  it("refuses anything but IPv4 addresses, and an empty list", () => {
    expect(() => admitThroughFirewallCommand(["10.0.0.1; reboot"])).toThrow(/not IPv4/);
    expect(() => admitThroughFirewallCommand([])).toThrow(/not IPv4/);
  });
});
