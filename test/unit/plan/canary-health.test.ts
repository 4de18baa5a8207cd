import { describe, expect, it } from "vitest";
import {
  allocIdOfServiceId,
  answeredStatus,
  judgeCanaryChecks,
  type CanaryFailures,
} from "../../../src/plan/canary-health.js";
import { canaryFailAfterMs } from "../../../src/nomad/deployment.js";

const refused =
  'Get "http://10.0.0.5:25384/health": dial tcp 10.0.0.5:25384: connect: connection refused';
const slow =
  'Get "http://10.0.0.5:25384/health": context deadline exceeded (Client.Timeout exceeded while awaiting headers)';
const error500 =
  "HTTP GET http://10.0.0.5:25384/health: 500 Internal Server Error Output: unhealthy";
const notFound = "HTTP GET http://10.0.0.5:25384/health: 404 Not Found Output: 404 page not found";
const ok = "HTTP GET http://10.0.0.5:25384/health: 200 OK Output: ok";

describe("answeredStatus: did the check reach the site?", () => {
  it.each([
    [error500, 500],
    [notFound, 404],
    [ok, 200],
    [refused, undefined],
    [slow, undefined],
    ["", undefined],
  ])("%s -> %s", (output, status) => {
    expect(answeredStatus(output)).toBe(status);
  });
});

describe("judgeCanaryChecks", () => {
  const none: CanaryFailures = new Map();
  const failingSince = (since: number, output = error500): CanaryFailures =>
    new Map([["alloc-a", { since, output }]]);

  it.each([
    {
      name: "a first error answer starts the clock, nothing failed yet",
      checks: [{ allocId: "alloc-a", status: "critical", output: error500 }],
      before: none,
      now: 1_000,
      failedAlloc: undefined,
      tracked: ["alloc-a"],
    },
    {
      name: "still answering 500 after the window: failed, with the check's output",
      checks: [{ allocId: "alloc-a", status: "critical", output: error500 }],
      before: failingSince(1_000),
      now: 11_000,
      failedAlloc: "alloc-a",
      tracked: ["alloc-a"],
    },
    {
      name: "a 404 on the health path is an answer too",
      checks: [{ allocId: "alloc-a", status: "critical", output: notFound }],
      before: failingSince(0, notFound),
      now: 10_000,
      failedAlloc: "alloc-a",
      tracked: ["alloc-a"],
    },
    {
      name: "not listening yet (connection refused) is never failed early and clears the clock",
      checks: [{ allocId: "alloc-a", status: "critical", output: refused }],
      before: failingSince(0),
      now: 60_000,
      failedAlloc: undefined,
      tracked: [],
    },
    {
      name: "too slow to answer is left to Nomad's deadline",
      checks: [{ allocId: "alloc-a", status: "critical", output: slow }],
      before: none,
      now: 60_000,
      failedAlloc: undefined,
      tracked: [],
    },
    {
      name: "passing again clears the clock",
      checks: [{ allocId: "alloc-a", status: "passing", output: ok }],
      before: failingSince(0),
      now: 60_000,
      failedAlloc: undefined,
      tracked: [],
    },
    {
      name: "one failing canary among passing ones is found",
      checks: [
        { allocId: "alloc-b", status: "passing", output: ok },
        { allocId: "alloc-a", status: "critical", output: error500 },
      ],
      before: failingSince(0),
      now: 12_000,
      failedAlloc: "alloc-a",
      tracked: ["alloc-a"],
    },
  ])("$name", ({ checks, before, now, failedAlloc, tracked }) => {
    const j = judgeCanaryChecks(checks, before, now, 10_000);
    expect(j.failed?.allocId).toBe(failedAlloc);
    expect([...j.failures.keys()]).toEqual(tracked);
    if (failedAlloc)
      expect(j.failed!.reason).toContain(checks.find((c) => c.allocId === failedAlloc)!.output);
  });

  it("keeps the time of the first error answer across observations", () => {
    const first = judgeCanaryChecks(
      [{ allocId: "alloc-a", status: "critical", output: error500 }],
      none,
      5_000,
      10_000,
    );
    const later = judgeCanaryChecks(
      [{ allocId: "alloc-a", status: "critical", output: error500 }],
      first.failures,
      9_000,
      10_000,
    );
    expect(later.failures.get("alloc-a")?.since).toBe(5_000);
    expect(later.failed).toBeUndefined();
  });
});

describe("allocIdOfServiceId", () => {
  it("finds the allocation in Nomad's service id, and nothing for another's", () => {
    const id = "_nomad-task-3f2a9c1e-1111-2222-3333-444455556666-group-web-elm-lang-org-http";
    expect(allocIdOfServiceId(id, ["3f2a9c1e-1111-2222-3333-444455556666"])).toBe(
      "3f2a9c1e-1111-2222-3333-444455556666",
    );
    expect(allocIdOfServiceId(id, ["99999999-1111-2222-3333-444455556666"])).toBeUndefined();
  });
});

describe("canaryFailAfterMs", () => {
  const s = 1e9;
  it.each([
    { name: "no update block: two check intervals", job: undefined, ms: 10_000 },
    {
      name: "healthy_deadline 2m: the check window",
      job: { TaskGroups: [{ Name: "web", Count: 2, Update: { HealthyDeadline: 120 * s } }] },
      ms: 10_000,
    },
    {
      name: "healthy_deadline 20s: a quarter of it",
      job: { TaskGroups: [{ Name: "web", Count: 2, Update: { HealthyDeadline: 20 * s } }] },
      ms: 5_000,
    },
  ])("$name", ({ job, ms }) => {
    expect(canaryFailAfterMs(job)).toBe(ms);
  });
});
