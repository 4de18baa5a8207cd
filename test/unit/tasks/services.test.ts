import { describe, expect, it } from "vitest";
import { allocationToMove } from "../../../src/tasks/services.js";
import type { ObservedService } from "../../../src/plan/health.js";

const alloc = (id: string, node: string, status = "running", healthy: boolean | null = true) => ({
  id,
  node,
  status,
  healthy,
});
const service = (allocations: ObservedService["allocations"]): ObservedService => ({
  service: "elm-lang.org",
  deployed: true,
  count: allocations.length,
  allocations,
});

describe("allocationToMove", () => {
  it("takes one from the most crowded worker", () => {
    expect(
      allocationToMove(
        service([alloc("a", "w1"), alloc("b", "w2"), alloc("c", "w2"), alloc("d", "w2")]),
      ),
    ).toBe("b");
  });
  it("moves nothing when no worker holds two that serve", () => {
    expect(allocationToMove(service([alloc("a", "w1"), alloc("b", "w2")]))).toBeUndefined();
    // an unhealthy or stopping one beside a serving one is not a crowd to thin out
    expect(
      allocationToMove(service([alloc("a", "w1"), alloc("b", "w1", "running", false)])),
    ).toBeUndefined();
    expect(allocationToMove(service([alloc("a", "w1"), alloc("b", "w1", "pending")]))).toBe(
      undefined,
    );
  });
});
