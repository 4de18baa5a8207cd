import { describe, expect, it } from "vitest";
import {
  assessDeployment,
  deploymentDeadlineMs,
  explainAllocation,
  summarizePlan,
} from "../../src/nomad/deployment.js";
import { chooseRollbackTarget } from "../../src/commands/rollback.js";
import type {
  AllocationStub,
  Deployment,
  DeploymentTaskGroupState,
  NomadJob,
} from "../../src/nomad/types.js";

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

describe("summarizePlan", () => {
  it("reports canaries and the image change", () => {
    const s = summarizePlan({
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
    expect(summarizePlan({ JobModifyIndex: 3, Diff: { Type: "None" } }).unchanged).toBe(true);
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
