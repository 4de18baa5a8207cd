import { describe, expect, it } from "vitest";
import type { Target } from "../../../src/config/schema.js";
import {
  describeNotPointing,
  dnsRecords,
  dnsServers,
  judgeDns,
  recordName,
  recordsMadeBy,
  type DnsAnswer,
} from "../../../src/plan/dns.js";
import { certificateWaitMs } from "../../../src/plan/acme.js";

const services = {
  "elm-lang.org": { hostnames: ["elm-lang.org", "www.elm-lang.org"] },
  "package.elm-lang.org": { hostnames: ["package.elm-lang.org"] },
};
const config = (target: Partial<Target>) =>
  ({ target: { domains: {}, ports: {}, ...target }, services }) as never;
const lb = "203.0.113.10";

describe("dnsRecords", () => {
  it("in a zone: one A record per hostname, named inside it (the apex as @)", () => {
    expect(dnsRecords(config({ provider: "digitalocean", dns: { zone: "elm-lang.org" } }))).toEqual(
      [
        { hostname: "elm-lang.org", type: "A", name: "@" },
        { hostname: "package.elm-lang.org", type: "A", name: "package" },
        { hostname: "www.elm-lang.org", type: "A", name: "www" },
      ],
    );
  });

  it("the target's domains instead of the service's own, each hostname once", () => {
    const records = dnsRecords(
      config({
        provider: "digitalocean",
        domains: {
          "elm-lang.org": ["staging.elm-lang.org"],
          "package.elm-lang.org": ["staging.elm-lang.org"],
        },
      }),
    );
    expect(records).toEqual([
      { hostname: "staging.elm-lang.org", type: "A", name: "staging.elm-lang.org" },
    ]);
  });

  it.each([
    ["elm-lang.org", "elm-lang.org", "@"],
    ["a.b.elm-lang.org", "elm-lang.org", "a.b"],
    ["guide.elm-lang.org", "guide.elm-lang.org", "@"],
  ])("recordName(%s in %s) is %s", (hostname, zone, name) => {
    expect(recordName(hostname, zone)).toBe(name);
  });
});

describe("who makes the records, and who is asked", () => {
  it.each([
    [{ provider: "local" }, "opentofu", ["127.0.0.1:8053"]],
    [
      { provider: "local", ports: { http: 1, https: 2, ssh: 3, dns: 18053 } },
      "opentofu",
      ["127.0.0.1:18053"],
    ],
    [
      { provider: "digitalocean", dns: { zone: "elm-lang.org" } },
      "opentofu",
      ["1.1.1.1", "8.8.8.8"],
    ],
    [{ provider: "digitalocean" }, "user", ["1.1.1.1", "8.8.8.8"]],
    [{ provider: "digitalocean", dns: { resolvers: ["9.9.9.9"] } }, "user", ["9.9.9.9"]],
  ] as const)("%j: records by %s, asking %j", (target, madeBy, servers) => {
    const t = { ports: {}, ...target } as unknown as Target;
    expect(recordsMadeBy(t)).toBe(madeBy);
    expect(dnsServers(t)).toEqual(servers);
  });
});

const answer = (
  hostname: string,
  a: DnsAnswer["a"],
  aaaa: DnsAnswer["aaaa"] = [],
  server = "1.1.1.1",
): DnsAnswer => ({ hostname, server, a, aaaa });

describe("judgeDns", () => {
  const names = ["elm-lang.org", "guide.elm-lang.org", "www.elm-lang.org"];

  it.each([
    [
      "every name at the load balancer",
      [
        answer("elm-lang.org", [lb]),
        answer("guide.elm-lang.org", [lb]),
        answer("www.elm-lang.org", [lb]),
      ],
      [],
      names,
    ],
    [
      "a name without a record, one elsewhere, one with an AAAA record",
      [
        answer("elm-lang.org", [lb], ["2001:db8::1"]),
        answer("guide.elm-lang.org", []),
        answer("www.elm-lang.org", ["198.51.100.7"]),
      ],
      [
        { hostname: "elm-lang.org", why: ["AAAA 2001:db8::1"], aaaa: ["2001:db8::1"], others: [] },
        { hostname: "guide.elm-lang.org", why: ["no A record"], aaaa: [], others: [] },
        {
          hostname: "www.elm-lang.org",
          why: ["A 198.51.100.7"],
          aaaa: [],
          others: ["198.51.100.7"],
        },
      ],
      [],
    ],
    [
      "the load balancer and another address (round robin) is not pointing",
      [
        answer("elm-lang.org", [lb, "198.51.100.7"]),
        answer("guide.elm-lang.org", [lb]),
        answer("www.elm-lang.org", [lb]),
      ],
      [{ hostname: "elm-lang.org", why: ["A 198.51.100.7"], aaaa: [], others: ["198.51.100.7"] }],
      ["guide.elm-lang.org", "www.elm-lang.org"],
    ],
    [
      "a resolver that did not answer",
      [
        answer("elm-lang.org", { error: "no answer (timeout)" }),
        answer("guide.elm-lang.org", [lb]),
        answer("www.elm-lang.org", [lb]),
      ],
      [{ hostname: "elm-lang.org", why: ["no answer (timeout)"], aaaa: [], others: [] }],
      ["guide.elm-lang.org", "www.elm-lang.org"],
    ],
  ])("%s", (_what, answers, notPointing, pointing) => {
    expect(judgeDns(names, lb, answers)).toEqual({ pointing, notPointing });
  });

  it("two resolvers that disagree: the name waits, each answer said with its resolver", () => {
    const verdict = judgeDns(["elm-lang.org"], lb, [
      answer("elm-lang.org", [lb], [], "1.1.1.1"),
      answer("elm-lang.org", [], [], "8.8.8.8"),
    ]);
    expect(verdict.notPointing).toEqual([
      { hostname: "elm-lang.org", why: ["no A record (8.8.8.8)"], aaaa: [], others: [] },
    ]);
  });
});

describe("describeNotPointing", () => {
  it("says each name, what DNS says instead, the records to create and the AAAA records to delete", () => {
    const { notPointing } = judgeDns(["elm-lang.org", "guide.elm-lang.org"], lb, [
      answer("elm-lang.org", [lb], ["2001:db8::1"]),
      answer("guide.elm-lang.org", []),
    ]);
    expect(describeNotPointing(notPointing, lb, "user")).toBe(
      [
        "DNS does not point these hostnames at the load balancer (203.0.113.10) yet:",
        "  elm-lang.org: AAAA 2001:db8::1",
        "  guide.elm-lang.org: no A record",
        "  then: create these records: guide.elm-lang.org. A 203.0.113.10",
        "  then: delete the AAAA records of elm-lang.org: the load balancer has no IPv6 address, and elm-infra makes no AAAA record, so it cannot remove them",
      ].join("\n"),
    );
  });

  it("a name that also gives another address: the A record to delete, with the address", () => {
    const { notPointing } = judgeDns(["www.elm-lang.org"], lb, [
      answer("www.elm-lang.org", [lb, "198.51.100.7"]),
    ]);
    expect(describeNotPointing(notPointing, lb, "opentofu")).toBe(
      [
        "DNS does not point this hostname at the load balancer (203.0.113.10) yet:",
        "  www.elm-lang.org: A 198.51.100.7",
        "  then: delete the A records that give another address (www.elm-lang.org 198.51.100.7): only 203.0.113.10 may answer, unless a resolver still holds an older answer",
      ].join("\n"),
    );
  });

  it("records OpenTofu makes that do not resolve yet: bring-up named, with the records", () => {
    const { notPointing } = judgeDns(["guide.elm-lang.org"], lb, [
      answer("guide.elm-lang.org", []),
    ]);
    expect(describeNotPointing(notPointing, lb, "opentofu")).toMatch(
      /^DNS does not point this hostname at the load balancer \(203\.0\.113\.10\) yet:\n {2}guide\.elm-lang\.org: no A record\n {2}then: bring-up makes these records with OpenTofu \(run it for a hostname added since\), unless a resolver still holds an older answer: guide\.elm-lang\.org\. A 203\.0\.113\.10$/,
    );
  });
});

describe("certificateWaitMs", () => {
  it("covers one full issuer cycle: Let's Encrypt's 5 minutes and a lego run, with a minute more", () => {
    expect(certificateWaitMs({ kind: "directory", directory: "https://acme" })).toBe(480_000);
    // Pebble's 5 s cycle: the floor of four minutes.
    expect(certificateWaitMs({ kind: "pebble", lifetimeSeconds: 3600 })).toBe(240_000);
  });
});
