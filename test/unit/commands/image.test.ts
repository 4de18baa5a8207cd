import { describe, expect, it } from "vitest";
import { planDelivery } from "../../../src/commands/image.js";
import type { Target } from "../../../src/config/schema.js";

const target = (registry: string) => ({ targetName: "t", target: { registry } as Target });

describe("planDelivery", () => {
  it.each([
    ["local", {}, "none"],
    ["local", { hosts: [] }, "none"],
    ["local", { hosts: ["10.0.0.5"] }, "ship"],
    ["local", { hosts: ["10.0.0.5"], push: false }, "none"],
    ["registry.digitalocean.com/elm", {}, "push"],
    ["registry.digitalocean.com/elm", { push: false }, "none"],
  ] as const)("registry %s with %j → %s", (registry, opts, kind) => {
    expect(
      planDelivery(target(registry), {
        ...opts,
        hosts: "hosts" in opts ? [...opts.hosts] : undefined,
      }).kind,
    ).toBe(kind);
  });

  it("says why an image for the local target stays on this machine", () => {
    expect(planDelivery(target("local"), {}).reason).toMatch(
      /no worker hosts were given: the image is tagged on this machine only/,
    );
  });
});
