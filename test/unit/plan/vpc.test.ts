import { describe, expect, it } from "vitest";
import { cidrBounds, defaultVpcRange, vpcCollisions } from "../../../src/plan/vpc.js";

describe("vpcCollisions: a new VPC's range against the DigitalOcean account's", () => {
  // What a DigitalOcean account typically holds: each region's default VPC on a 10.1xx.0.0/20.
  const account = [
    { name: "default-fra1", ipRange: "10.110.0.0/20" },
    { name: "default-ams3", ipRange: "10.133.0.0/20" },
  ];

  it("iac/digitalocean's default range collides with fra1's default VPC: named, with a free /20 to choose", () => {
    const { overlaps, instead } = vpcCollisions(defaultVpcRange, account, "elm-infra-production");
    expect(overlaps).toEqual([{ name: "default-fra1", ipRange: "10.110.0.0/20" }]);
    expect(instead).toBe("10.0.0.0/20");
    expect(vpcCollisions(instead!, account, "elm-infra-production").overlaps).toEqual([]);
  });

  it("the target's own VPC (an earlier bring-up made it) is no collision", () => {
    const ours = [...account, { name: "elm-infra-production", ipRange: "10.120.0.0/20" }];
    expect(vpcCollisions("10.120.0.0/20", ours, "elm-infra-production").overlaps).toEqual([]);
  });

  it("DigitalOcean's reserved ranges count, and a wider range overlapping a narrower one is caught", () => {
    expect(vpcCollisions("10.244.16.0/20", [], "x").overlaps[0]?.name).toBe(
      "reserved by DigitalOcean",
    );
    expect(vpcCollisions("10.128.0.0/9", account, "x").overlaps.map((v) => v.name)).toEqual([
      "default-ams3",
      "reserved by DigitalOcean",
      "reserved by DigitalOcean",
      "reserved by DigitalOcean",
    ]);
    const crowded = [{ name: "a", ipRange: "10.0.0.0/20" }, ...account];
    expect(vpcCollisions(defaultVpcRange, crowded, "x").instead).toBe("10.0.16.0/20");
  });

  it("cidrBounds reads a block's first and last address", () => {
    expect(cidrBounds("10.110.0.0/20")).toEqual([0x0a6e0000, 0x0a6e0fff]);
    expect(cidrBounds("10.110.3.7/20")).toEqual([0x0a6e0000, 0x0a6e0fff]);
    expect(() => cidrBounds("10.110.0.0")).toThrow(/not an IPv4 CIDR block/);
  });
});
