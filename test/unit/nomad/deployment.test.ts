import { describe, expect, it } from "vitest";
import {
  assessDeployment,
  deploymentDeadlineMs,
  explainAllocation,
  isDeploymentActive,
  judgeWatch,
  summarizeJobPlan,
} from "../../../src/nomad/deployment.js";
import { chooseRollbackTarget } from "../../../src/commands/rollback.js";
import type {
  AllocationStub,
  Deployment,
  DeploymentTaskGroupState,
  NomadJob,
} from "../../../src/nomad/types.js";

function group(p: Partial<DeploymentTaskGroupState>): DeploymentTaskGroupState {
  return {
    AutoRevert: true,
    AutoPromote: false,
    Promoted: false,
    DesiredCanaries: 1,
    DesiredTotal: 2,
    PlacedAllocs: 0,
    HealthyAllocs: 0,
    UnhealthyAllocs: 0,
    PlacedCanaries: [],
    ...p,
  };
}
function deployment(
  status: Deployment["Status"],
  web: Partial<DeploymentTaskGroupState>,
  description = "",
): Deployment {
  return {
    ID: "d1",
    JobID: "elm-lang.org",
    JobVersion: 2,
    Status: status,
    StatusDescription: description,
    TaskGroups: { web: group(web) },
    ModifyIndex: 1,
  };
}

describe("assessDeployment", () => {
  it.each([
    ["just started", deployment("running", {}), "progressing"],
    [
      "canary placed, not healthy yet",
      deployment("running", { PlacedAllocs: 1, PlacedCanaries: ["a"] }),
      "progressing",
    ],
    [
      "canary healthy, waiting for promotion",
      deployment("running", { PlacedAllocs: 1, PlacedCanaries: ["a"], HealthyAllocs: 1 }),
      "canaries-healthy",
    ],
    [
      "promoted, rolling",
      deployment("running", {
        Promoted: true,
        PlacedAllocs: 2,
        PlacedCanaries: ["a"],
        HealthyAllocs: 1,
      }),
      "progressing",
    ],
    [
      "first version without canaries",
      deployment("running", { DesiredCanaries: 0, PlacedAllocs: 2, HealthyAllocs: 2 }),
      "progressing",
    ],
    [
      "an unhealthy canary",
      deployment("running", { PlacedAllocs: 1, PlacedCanaries: ["a"], UnhealthyAllocs: 1 }),
      "unhealthy",
    ],
    ["successful", deployment("successful", { Promoted: true, HealthyAllocs: 2 }), "successful"],
    ["failed by Nomad", deployment("failed", {}, "Failed due to progress deadline"), "failed"],
    [
      "cancelled by a newer job",
      deployment("cancelled", {}, "Cancelled due to newer version of job"),
      "failed",
    ],
  ])("%s → %s", (_name, d, kind) => {
    expect(assessDeployment(d).kind).toBe(kind);
  });

  it("carries Nomad's reason when failed", () => {
    expect(
      assessDeployment(deployment("failed", {}, "Failed due to unhealthy allocations")),
    ).toEqual({ kind: "failed", reason: "Failed due to unhealthy allocations" });
  });
});

describe("deploymentDeadlineMs", () => {
  it("is the longest progress_deadline plus the margin", () => {
    const job = {
      ID: "j",
      TaskGroups: [{ Name: "web", Count: 1, Update: { ProgressDeadline: 300e9 } }],
    } as NomadJob;
    expect(deploymentDeadlineMs(job, 60)).toBe(360_000);
  });
  it("falls back to ten minutes when the job has none", () => {
    expect(deploymentDeadlineMs({ ID: "j" }, 0)).toBe(600_000);
  });
});

describe("summarizeJobPlan", () => {
  it("reports canaries and the image change", () => {
    const s = summarizeJobPlan({
      JobModifyIndex: 10,
      Annotations: { DesiredTGUpdates: { web: { Canary: 1, Ignore: 2, DestructiveUpdate: 0 } } },
      Diff: {
        Type: "Edited",
        TaskGroups: [
          {
            Type: "Edited",
            Name: "web",
            Tasks: [
              {
                Type: "Edited",
                Name: "site",
                Objects: [
                  {
                    Type: "Edited",
                    Name: "Config",
                    Fields: [
                      {
                        Type: "Edited",
                        Name: "image",
                        Old: "elm-lang.org:v1",
                        New: "elm-lang.org:v2",
                      },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      },
    });
    expect(s.unchanged).toBe(false);
    expect(s.canaries).toBe(1);
    expect(s.lines).toContain("group web: 1 Canary, 2 Ignore");
    expect(s.lines).toContain("web.site.Config.image: elm-lang.org:v1 → elm-lang.org:v2");
  });
  it("says unchanged when Nomad sees no difference", () => {
    expect(summarizeJobPlan({ JobModifyIndex: 3, Diff: { Type: "None" } }).unchanged).toBe(true);
  });
});

describe("explainAllocation", () => {
  it("names the task event and exit code", () => {
    const alloc = {
      ID: "abcdef0123",
      Name: "x",
      NodeID: "n",
      JobVersion: 3,
      TaskGroup: "web",
      ClientStatus: "failed",
      DesiredStatus: "run",
      CreateIndex: 1,
      ModifyIndex: 2,
      DeploymentStatus: { Healthy: false },
      TaskStates: {
        site: {
          State: "dead",
          Failed: true,
          Events: [
            {
              Type: "Terminated",
              Time: 1,
              DisplayMessage: "Exit Code: 3",
              Details: { exit_code: "3" },
            },
            {
              Type: "Not Restarting",
              Time: 2,
              DisplayMessage: 'Exceeded allowed attempts 1 in interval 1m0s and mode is "fail"',
            },
          ],
        },
      },
    } satisfies AllocationStub;
    expect(explainAllocation(alloc)).toEqual([
      "abcdef01 site: Terminated: Exit Code: 3",
      'abcdef01 site: Not Restarting: Exceeded allowed attempts 1 in interval 1m0s and mode is "fail"',
    ]);
  });
});

describe("chooseRollbackTarget", () => {
  const v = (Version: number, version: string, Stable: boolean): NomadJob => ({
    ID: "elm-lang.org",
    Version,
    Stable,
    Meta: { version },
  });
  const history = [v(3, "v3", false), v(2, "v2", true), v(1, "v2", true), v(0, "v1", true)];
  it("goes back to the newest stable version running something else", () => {
    expect(
      chooseRollbackTarget([v(2, "v2", true), v(1, "v1", true), v(0, "v0", true)], undefined)
        ?.Version,
    ).toBe(1);
  });
  it("skips versions that ran what runs now", () => {
    expect(chooseRollbackTarget([v(4, "v2", true), ...history.slice(1)], undefined)?.Version).toBe(
      0,
    );
  });
  it("finds the job version that ran a named version", () => {
    expect(chooseRollbackTarget(history, "v1")?.Version).toBe(0);
  });
  it("has nothing for a version never deployed", () => {
    expect(chooseRollbackTarget(history, "v9")).toBeUndefined();
  });
});

describe("isDeploymentActive", () => {
  it.each([
    ["running", true],
    ["pending", true],
    ["paused", true],
    ["initializing", true],
    ["blocked", true],
    ["unblocking", true],
    ["successful", false],
    ["failed", false],
    ["cancelled", false],
  ])("%s → %s", (status, active) => {
    expect(isDeploymentActive({ Status: status as Deployment["Status"] })).toBe(active);
  });
  it.each([null, undefined])("no deployment (%s) → false", (d) => {
    expect(isDeploymentActive(d)).toBe(false);
  });
});

describe("judgeWatch: did the watch time out, or did Nomad decide?", () => {
  const before = { now: 1_000, deadline: 2_000, deadlineMs: 100_000 };
  const after = { now: 2_000, deadline: 2_000, deadlineMs: 100_000 };
  const canaryHealthy = deployment("running", {
    PlacedAllocs: 1,
    PlacedCanaries: ["a"],
    HealthyAllocs: 1,
  });
  const rolling = deployment("running", { PlacedAllocs: 1, PlacedCanaries: ["a"] });
  it.each([
    ["progressing before the deadline: ask again", rolling, ["successful"], before, undefined],
    ["progressing at the deadline: timed out", rolling, ["successful"], after, "timed-out"],
    [
      "a wanted verdict before the deadline",
      canaryHealthy,
      ["canaries-healthy"],
      before,
      "canaries-healthy",
    ],
    [
      "a wanted verdict seen at the deadline still counts",
      canaryHealthy,
      ["canaries-healthy"],
      after,
      "canaries-healthy",
    ],
    [
      "canaries healthy but not wanted: ask again",
      canaryHealthy,
      ["successful"],
      before,
      undefined,
    ],
    [
      "Nomad failed it before the deadline",
      deployment("failed", {}, "Failed due to progress deadline"),
      ["successful"],
      before,
      "failed",
    ],
    [
      "Nomad failed it after the deadline: still Nomad's verdict",
      deployment("failed", {}, "Failed due to unhealthy allocations"),
      ["successful"],
      after,
      "failed",
    ],
    [
      "an unhealthy allocation",
      deployment("running", { UnhealthyAllocs: 1 }),
      ["successful"],
      before,
      "unhealthy",
    ],
    [
      "successful",
      deployment("successful", { HealthyAllocs: 2 }),
      ["successful"],
      after,
      "successful",
    ],
  ] as const)("%s", (_name, d, until, clock, kind) => {
    const judged = judgeWatch(d, { until: [...until], ...clock });
    if (kind === undefined) expect(judged).toEqual({ stop: false });
    else expect(judged).toMatchObject({ stop: true, verdict: { kind } });
  });

  it("a time-out says whose deadline and how far the deployment got", () => {
    const judged = judgeWatch(deployment("running", { PlacedAllocs: 1, PlacedCanaries: ["a"] }), {
      until: ["successful"],
      ...after,
    });
    expect(judged).toEqual({
      stop: true,
      verdict: {
        kind: "timed-out",
        reason:
          "deployment d1 is still running after 100 s (the job's progress_deadline plus a margin): web: placed 1/2 (canary 1/1), healthy 0, unhealthy 0",
      },
    });
  });
});
