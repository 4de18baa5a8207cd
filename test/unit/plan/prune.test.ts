import { describe, expect, it } from "vitest";
import { planPrune } from "../../../src/plan/prune.js";

describe("planPrune: which tags of a service's image the registry keeps", () => {
  it("keeps every version Nomad tracks and the newest N besides, by version order, not by the registry's list order", () => {
    const plan = planPrune({
      tags: ["1.0.0", "1.10.0", "1.2.0", "1.9.0", "2.0.0-rc.1", "0.9.0", "1.1.0"],
      tracked: ["1.0.0", "1.2.0"],
      keep: 2,
    });
    expect(plan.keep).toEqual([
      { tag: "1.0.0", why: "tracked by Nomad" },
      { tag: "1.2.0", why: "tracked by Nomad" },
      { tag: "2.0.0-rc.1", why: "among the newest" },
      { tag: "1.10.0", why: "among the newest" },
    ]);
    expect(plan.remove).toEqual(["1.9.0", "1.1.0", "0.9.0"]);
  });

  it("never touches a tag that is not a version (elm-infra did not push it)", () => {
    const plan = planPrune({ tags: ["latest", "v1", "1.0.0", "1.0.1"], tracked: [], keep: 0 });
    expect(plan.keep.map((k) => k.tag)).toEqual(["latest", "v1"]);
    expect(plan.remove).toEqual(["1.0.1", "1.0.0"]);
  });

  it("with --keep 0 only what Nomad tracks stays; a tracked version the registry lacks changes nothing", () => {
    const plan = planPrune({
      tags: ["1.0.0", "1.0.1", "1.0.2"],
      tracked: ["1.0.1", "9.9.9"],
      keep: 0,
    });
    expect(plan.keep).toEqual([{ tag: "1.0.1", why: "tracked by Nomad" }]);
    expect(plan.remove).toEqual(["1.0.2", "1.0.0"]);
  });

  it("nothing to remove when there are no more versions than it keeps", () => {
    expect(planPrune({ tags: ["1.0.0", "1.0.0"], tracked: [], keep: 10 }).remove).toEqual([]);
    expect(planPrune({ tags: [], tracked: ["1.0.0"], keep: 10 })).toEqual({ keep: [], remove: [] });
  });
});
