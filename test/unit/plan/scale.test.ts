import { describe, expect, it } from "vitest";
import { ConflictError, UsageError } from "../../../src/errors.js";
import {
  describeScalePlan,
  planScale,
  refuseUnlessHealthy,
  removalOrder,
  type ScaleInput,
} from "../../../src/plan/scale.js";

const base: ScaleInput = {
  target: "t",
  configured: { managers: 1, workers: 2 },
  requested: {},
  existing: ["t-manager-1", "t-worker-1", "t-worker-2"],
  services: { "elm-lang.org": { count: 2 }, "package.elm-lang.org": { count: 1 } },
};

describe("planScale", () => {
  it.each<[string, Partial<ScaleInput>, { create: string[]; remove: string[]; to: object }]>([
    [
      "one more worker takes the next number",
      { requested: { workers: 3 } },
      { create: ["t-worker-3"], remove: [], to: { managers: 1, workers: 3 } },
    ],
    [
      "back to two workers: the highest number goes",
      {
        configured: { managers: 1, workers: 3 },
        existing: ["t-manager-1", "t-worker-1", "t-worker-2", "t-worker-3"],
        requested: { workers: 2 },
      },
      { create: [], remove: ["t-worker-3"], to: { managers: 1, workers: 2 } },
    ],
    [
      "managers 1 -> 3: two new servers at once",
      { requested: { managers: 3 } },
      { create: ["t-manager-2", "t-manager-3"], remove: [], to: { managers: 3, workers: 2 } },
    ],
    [
      "managers 3 -> 1: one at a time, the highest first",
      {
        configured: { managers: 3, workers: 2 },
        existing: ["t-manager-1", "t-manager-2", "t-manager-3", "t-worker-1", "t-worker-2"],
        requested: { managers: 1 },
      },
      { create: [], remove: ["t-manager-3", "t-manager-2"], to: { managers: 1, workers: 2 } },
    ],
    [
      "fewer of both: workers go before managers",
      {
        configured: { managers: 3, workers: 3 },
        existing: [
          "t-manager-1",
          "t-manager-2",
          "t-manager-3",
          "t-worker-1",
          "t-worker-2",
          "t-worker-3",
        ],
        requested: { managers: 1, workers: 2 },
      },
      {
        create: [],
        remove: ["t-worker-3", "t-manager-3", "t-manager-2"],
        to: { managers: 1, workers: 2 },
      },
    ],
    [
      "more workers and fewer managers: creation first, then removal",
      {
        configured: { managers: 3, workers: 2 },
        existing: ["t-manager-1", "t-manager-2", "t-manager-3", "t-worker-1", "t-worker-2"],
        requested: { managers: 1, workers: 3 },
      },
      {
        create: ["t-worker-3"],
        remove: ["t-manager-3", "t-manager-2"],
        to: { managers: 1, workers: 3 },
      },
    ],
    [
      "only --workers: the managers stay as cluster.yaml says",
      { configured: { managers: 1, workers: 2 }, requested: { workers: 2 } },
      { create: [], remove: [], to: { managers: 1, workers: 2 } },
    ],
  ])("%s", (_what, input, expected) => {
    const plan = planScale({ ...base, ...input });
    expect({ create: plan.create, remove: plan.remove, to: plan.to }).toEqual(expected);
    expect(plan.unchanged).toBe(expected.create.length + expected.remove.length === 0);
  });

  it("an interrupted scale (cluster.yaml already says 3 workers, 2 exist) converges", () => {
    const plan = planScale({
      ...base,
      configured: { managers: 1, workers: 3 },
      requested: { workers: 3 },
    });
    expect(plan.create).toEqual(["t-worker-3"]);
    expect(plan.configuredDiffers).toBe(true);
    expect(plan.from).toEqual({ managers: 1, workers: 2 });
  });

  it("says when a service has more instances than workers (not spread), without refusing", () => {
    const plan = planScale({ ...base, requested: { workers: 1 } });
    expect(plan.remove).toEqual(["t-worker-2"]);
    expect(plan.notes).toEqual([
      expect.stringMatching(/^elm-lang.org runs 2 instances on 1 worker:/),
    ]);
    expect(planScale({ ...base, requested: { workers: 3 } }).notes).toEqual([]);
  });

  it.each<[string, ScaleInput["requested"], RegExp]>([
    ["no count given", {}, /needs --managers, --workers or both/],
    ["an even manager count", { managers: 2 }, /to 2 managers: .* odd number .* quorum/],
    ["zero managers", { managers: 0 }, /to 0 managers/],
    ["more than 7 managers", { managers: 9 }, /to 9 managers/],
    ["zero workers", { workers: 0 }, /to 0 workers: every service needs at least 1 worker/],
  ])("refuses %s (usage error, exit 2)", (_what, requested, message) => {
    const run = () => planScale({ ...base, requested });
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
  });

  it("the hint of an even count offers the odd neighbours", () => {
    try {
      planScale({ ...base, requested: { managers: 4 } });
      expect.unreachable();
    } catch (error) {
      expect((error as UsageError).hint).toBe("use --managers 3 or 5");
      expect((error as UsageError).exitCode).toBe(2);
    }
  });
});

describe("refuseUnlessHealthy", () => {
  it("lets a healthy cluster through", () => {
    expect(() => refuseUnlessHealthy("t", "scale", { healthy: true, problems: [] })).not.toThrow();
  });

  it("refuses a degraded one (exit 3), naming each problem", () => {
    const run = () =>
      refuseUnlessHealthy("t", "scale", {
        healthy: false,
        problems: ["Nomad: t-worker-1 is ready with a healthy Docker driver: down"],
      });
    expect(run).toThrow(ConflictError);
    expect(run).toThrow(
      /scale refused: target t is not healthy now:\n {2}Nomad: t-worker-1 .*: down/,
    );
  });
});

describe("removalOrder and describeScalePlan", () => {
  it("workers first, each role from its highest number", () => {
    expect(removalOrder("t", ["t-manager-2", "t-worker-1", "t-manager-3", "t-worker-4"])).toEqual([
      "t-worker-4",
      "t-worker-1",
      "t-manager-3",
      "t-manager-2",
    ]);
  });

  it("one line for the question", () => {
    const plan = planScale({ ...base, requested: { workers: 3 } });
    expect(describeScalePlan(plan)).toBe("managers 1 -> 1, workers 2 -> 3 (create t-worker-3)");
    expect(describeScalePlan(planScale({ ...base, requested: { workers: 2 } }))).toBe(
      "managers 1 -> 1, workers 2 -> 2: no host to create or remove",
    );
  });
});
