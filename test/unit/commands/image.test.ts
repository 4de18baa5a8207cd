import { describe, expect, it } from "vitest";
import { planDelivery } from "../../../src/commands/image.js";
import type { Target } from "../../../src/config/schema.js";

const target = (registry: Target["registry"]) => ({
  targetName: "t",
  target: { registry } as Target,
});
const local = { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" };

describe("planDelivery", () => {
  it.each([
    ["none", {}, "none"],
    [local, {}, "push"],
    [local, { push: false }, "none"],
    ["registry.digitalocean.com/elm", {}, "push"],
    ["registry.digitalocean.com/elm", { push: false }, "none"],
  ] as const)("registry %j with %j → %s", (registry, opts, kind) => {
    expect(planDelivery(target(registry), opts).kind).toBe(kind);
  });

  it("says why an image for a target without a registry stays on this machine", () => {
    expect(planDelivery(target("none"), {}).reason).toMatch(
      /has no registry \(none\): the image is tagged on this machine/,
    );
  });
});
