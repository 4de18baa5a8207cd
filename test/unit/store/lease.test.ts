import { describe, expect, it } from "vitest";
import { describeLease, judgeLease, type Lease } from "../../../src/store/lease.js";

const lease: Lease = {
  holder: "ada@example.org on laptop",
  command: "bring-up",
  target: "production",
  since: "2026-12-06T05:00:00.000Z",
  expires: "2026-12-06T05:01:00.000Z",
};
const at = (iso: string) => new Date(iso);

describe("judgeLease: is the lease in the store still held?", () => {
  it.each<[string, string, string]>([
    ["before its expiry", "2026-12-06T05:00:30.000Z", "held"],
    ["at its expiry", "2026-12-06T05:01:00.000Z", "held"],
    ["past its expiry (its holder died)", "2026-12-06T05:01:00.001Z", "expired"],
  ])("%s: %s", (_when, now, kind) => {
    expect(judgeLease(JSON.stringify(lease), at(now))).toEqual({ kind, lease });
  });

  it.each([
    ["not JSON", "locked"],
    ["JSON without the holder", JSON.stringify({ ...lease, holder: undefined })],
    ["an expiry that is not a time", JSON.stringify({ ...lease, expires: "soon" })],
  ])("%s is unreadable (never taken over blindly)", (_what, body) => {
    expect(judgeLease(body, at("2030-01-01T00:00:00Z"))).toEqual({ kind: "unreadable" });
  });

  it("names who holds it, what they run and since when", () => {
    expect(describeLease(lease)).toBe(
      "bring-up by ada@example.org on laptop (since 2026-12-06T05:00:00.000Z)",
    );
  });
});
