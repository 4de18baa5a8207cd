import { describe, expect, it } from "vitest";
import {
  failedRequests,
  formatProbeReport,
  keptFailures,
  ProbeTally,
  type ProbeAnswer,
} from "../../../src/traefik/probe-report.js";
import { probeSettings } from "../../../src/traefik/probe.js";
import { loadBalancerUrl } from "../../../src/cluster/inventory.js";

const t0 = Date.UTC(2026, 10, 24, 2, 0, 0);
const good = (ms: number, worker = "w1", version = "1.0.0"): ProbeAnswer => ({
  at: t0 + ms,
  status: 200,
  version,
  worker,
});
const status = (ms: number, code: number, worker?: string): ProbeAnswer => ({
  at: t0 + ms,
  status: code,
  ...(worker ? { worker } : {}),
});
const error = (ms: number, what = "refused"): ProbeAnswer => ({ at: t0 + ms, error: what });

function tallyOf(answers: ProbeAnswer[], endMs: number) {
  const t = new ProbeTally("elm-lang.org", t0);
  for (const a of answers) {
    t.recordSent();
    t.record(a);
  }
  return t.report(t0 + endMs);
}

describe("ProbeTally: the longest gap without a good answer", () => {
  it.each([
    ["steady good answers: the largest spacing", [good(50), good(100), good(150)], 160, 50],
    ["nothing answered: the whole run", [error(100), error(200)], 1000, 1000],
    [
      "failures between good answers: from the last good answer to the next",
      [good(50), status(100, 503), error(5_100), good(6_050), good(6_100)],
      6_150,
      6_000,
    ],
    ["a gap still open at the end counts up to the end", [good(50), error(300)], 2_050, 2_000],
    [
      "out-of-order answers of overlapping requests open no negative gap",
      [good(100), good(400), good(250), good(450)],
      460,
      300,
    ],
    ["the first good answer is measured from the start", [good(700), good(750)], 760, 700],
  ])("%s", (_what, answers, endMs, gap) => {
    expect(tallyOf(answers, endMs).longestGapMs).toBe(gap);
  });
});

describe("ProbeTally: counters", () => {
  it("counts 2xx, non-2xx and connection errors apart, and versions and workers of every answer", () => {
    const r = tallyOf(
      [
        good(10, "w1", "1.0.0"),
        good(20, "w2", "1.0.0"),
        good(30, "w2", "1.1.0"),
        { at: t0 + 35, status: 204 },
        status(40, 503, "w1"),
        status(45, 404),
        error(50, "closed"),
        error(60, "no answer within 5000 ms"),
      ],
      100,
    );
    expect(r).toMatchObject({
      hostname: "elm-lang.org",
      sent: 8,
      ok: 4,
      non2xx: 2,
      connectionErrors: 2,
      versions: { "1.0.0": 2, "1.1.0": 1 },
      workers: { w1: 2, w2: 2 },
      durationMs: 100,
    });
    expect(failedRequests(r)).toBe(4);
    expect(r.failures).toEqual([
      { at: new Date(t0 + 40).toISOString(), what: "503 from w1" },
      { at: new Date(t0 + 45).toISOString(), what: "404" },
      { at: new Date(t0 + 50).toISOString(), what: "connection error: closed" },
      { at: new Date(t0 + 60).toISOString(), what: "connection error: no answer within 5000 ms" },
    ]);
  });

  it(`keeps the first ${keptFailures} failures and counts all`, () => {
    const r = tallyOf(
      Array.from({ length: 80 }, (_, i) => error(i)),
      100,
    );
    expect(r.connectionErrors).toBe(80);
    expect(r.failures).toHaveLength(keptFailures);
    expect(r.failures[0]!.at).toBe(new Date(t0).toISOString());
    const text = formatProbeReport(r).split("\n");
    expect(text[1]).toBe("80 request(s) failed; the first:");
    expect(text).toHaveLength(2 + 10 + 1);
    expect(text.at(-1)).toBe("  … 70 more (the first 50 with their times in --json)");
  });

  it("a report is a copy: later answers do not change it", () => {
    const t = new ProbeTally("a.org", t0);
    t.record(good(10));
    const before = t.report(t0 + 20);
    t.record(good(30, "w9"));
    expect(before.workers).toEqual({ w1: 1 });
  });

  it("says a clean run in one line", () => {
    expect(formatProbeReport(tallyOf([good(50, "w1"), good(100, "w2")], 1000))).toBe(
      "elm-lang.org: 2 sent, 2 ok, 0 non-2xx, 0 connection errors, longest gap 0.9s in 1.0s; versions 1.0.0 ×2; workers w1 ×1, w2 ×1",
    );
  });
});

describe("probeSettings", () => {
  it.each([
    [{}, { ratePerSecond: 20, seconds: 60, count: 1200 }],
    [
      { ratePerSecond: 10, seconds: 5 },
      { ratePerSecond: 10, seconds: 5, count: 50 },
    ],
    [
      { ratePerSecond: 25, seconds: 0.5 },
      { ratePerSecond: 25, seconds: 0.5, count: 13 },
    ],
  ])("%j -> %j", (input, expected) => {
    expect(probeSettings(input)).toEqual(expected);
  });

  it.each([
    [{ ratePerSecond: 9 }, /between 10 and 200 requests a second, not 9/],
    [{ ratePerSecond: Number.NaN }, /not NaN/],
    [{ seconds: 0 }, /more than 0 and at most 3600 seconds, not 0/],
    [{ seconds: 3601 }, /not 3601/],
  ])("refuses %j", (input, message) => {
    expect(() => probeSettings(input)).toThrow(message);
  });
});

describe("loadBalancerUrl: where the probe sends its requests", () => {
  const local = { provider: "local" as const, ports: { http: 18080, https: 18443, ssh: 2200 } };
  const inventory = (host: string, httpPort: number) => ({
    target: "t",
    hosts: [],
    loadBalancer: { host, httpPort, httpsPort: 443 },
  });
  it.each([
    [
      "the dev agents' entrypoint",
      { ...local, endpoints: { entrypoint: "http://127.0.0.1:9080" } },
      inventory("127.0.0.1", 1),
      "http://127.0.0.1:9080",
    ],
    [
      "the load balancer bring-up recorded (DigitalOcean)",
      { ...local, provider: "digitalocean" as const },
      inventory("203.0.113.7", 80),
      "http://203.0.113.7:80",
    ],
    ["an IPv6 load balancer", local, inventory("2001:db8::7", 80), "http://[2001:db8::7]:80"],
    [
      "the local target before its inventory: its published port",
      local,
      undefined,
      "http://127.0.0.1:18080",
    ],
    [
      "a DigitalOcean target never brought up: none",
      { ...local, provider: "digitalocean" as const },
      undefined,
      undefined,
    ],
  ])("%s", (_what, target, inv, url) => {
    expect(loadBalancerUrl({ target: target as never }, inv)).toBe(url);
  });
});
