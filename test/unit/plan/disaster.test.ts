import { describe, expect, it } from "vitest";
import {
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
