/**
 * The request probe against a real HTTP server on 127.0.0.1 that answers in phases: 200s from
 * two "workers", then 503s, then connections closed without an answer, then connections that
 * hang past the probe's deadline, then 200s again. Each counter moves, and the longest gap runs
 * from the last 200 before the trouble to the first after it. The CLI `probe` runs against the
 * same server (a target whose entrypoint it is): the report on stdout, exit 1, and exit 2 with the
 * known hostnames for one no service serves.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProbe, startProbe, type ProbeReport } from "../../src/traefik/probe.js";
import { errorOf, runCli, writeClusterYaml } from "../harness/cli.js";

let server: Server;
let url: string;
let served = 0;
let hosts = new Set<string>();
const sockets = new Set<Socket>();
/** What the nth request (from 1) gets; reset per test. */
let script: (n: number) => "ok" | "unavailable" | "close" | "hang" = () => "ok";

beforeAll(async () => {
  server = createServer((req, res) => {
    served += 1;
    hosts.add(String(req.headers.host));
    const n = served;
    const what = script(n);
    if (what === "close") return req.socket.destroy();
    if (what === "hang") return; // never answers; the probe's deadline must end it
    res.setHeader("X-Elm-Version", n < 100 ? "1.0.0" : "1.1.0");
    res.setHeader("X-Elm-Infra-Worker", n % 2 === 0 ? "worker-1" : "worker-2");
    res.writeHead(what === "ok" ? 200 : 503, { "content-type": "text/plain" });
    res.end(what === "ok" ? "hello\n" : "no server available\n");
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const reset = (s: typeof script) => {
  served = 0;
  hosts = new Set();
  script = s;
};

describe("runProbe against a real server", () => {
  it("counts 200s, 503s, closed and hung connections apart; the gap spans the trouble", async () => {
    // 20 a second: requests 1-20 good (1 s), 21-30 503, 31-36 closed, 37-40 hang, 41-60 good.
    reset((n) => (n <= 20 || n > 40 ? "ok" : n <= 30 ? "unavailable" : n <= 36 ? "close" : "hang"));
    const began = Date.now();
    const r: ProbeReport = await runProbe({
      url,
      hostname: "elm-lang.org",
      path: "/health",
      ratePerSecond: 20,
      seconds: 3,
      requestTimeoutMs: 700,
    });
    expect(r.sent).toBe(60);
    expect(r.ok).toBe(40);
    expect(r.non2xx).toBe(10);
    expect(r.connectionErrors).toBe(10);
    expect(r.versions).toEqual({ "1.0.0": 50 });
    expect(r.workers).toEqual({ "worker-1": 25, "worker-2": 25 });
    expect([...hosts]).toEqual(["elm-lang.org"]);
    // From the 20th answer (~0.95 s) to the 41st (~2.0 s): about 1.05 s, whatever the hangs.
    expect(r.longestGapMs).toBeGreaterThan(900);
    expect(r.longestGapMs).toBeLessThan(1_600);
    expect(r.failures.map((f) => f.what)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `503 from worker-${(21 + i) % 2 === 0 ? 1 : 2}`),
      ...Array<string>(6).fill("connection error: closed"),
      ...Array<string>(4).fill("connection error: no answer within 700 ms"),
    ]);
    // Steady: 60 requests in 3 s, and the hung ones ended by their own deadline.
    expect(Date.now() - began).toBeLessThan(4_500);
    expect(r.durationMs).toBeGreaterThan(2_900);
  });

  it("startProbe stops early on stop(); the gap keeps growing while nothing answers", async () => {
    reset((n) => (n <= 10 ? "ok" : "hang"));
    const handle = startProbe({
      url,
      hostname: "elm-lang.org",
      ratePerSecond: 10,
      seconds: 60,
      requestTimeoutMs: 500,
    });
    await new Promise((r) => setTimeout(r, 2_500));
    const r = await handle.stop();
    expect(r.sent).toBeGreaterThanOrEqual(24);
    expect(r.sent).toBeLessThan(30);
    expect(r.ok).toBe(10);
    expect(r.connectionErrors).toBe(r.sent - 10);
    // last good answer at ~0.9 s; stop at ~2.5 s plus the last hung request's deadline
    expect(r.longestGapMs).toBeGreaterThan(1_800);
    expect(r.durationMs).toBeLessThan(3_500);
  });

  it("a refused connection is a connection error, not a crash", async () => {
    const r = await runProbe({
      url: "http://127.0.0.1:9",
      hostname: "a.org",
      ratePerSecond: 10,
      seconds: 1,
    });
    expect(r).toMatchObject({ sent: 10, ok: 0, non2xx: 0, connectionErrors: 10 });
    expect(r.failures[0]!.what).toBe("connection error: refused");
  });
});

describe("elm-infra probe (the CLI) through a target's entrypoint", () => {
  let dir: string;
  let config: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "elm-infra-probe-"));
    config = await writeClusterYaml(
      dir,
      "t",
      {
        nomad: "http://127.0.0.1:9",
        consul: "http://127.0.0.1:9",
        traefikApi: "http://127.0.0.1:9",
        entrypoint: url,
        canaryEntrypoint: "http://127.0.0.1:9",
      },
      { hostnames: ["elm-lang.org", "www.elm-lang.org"] },
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("prints the report and exits 0 when every request got a 2xx", async () => {
    reset(() => "ok");
    const run = await runCli(["probe", "www.elm-lang.org", "--seconds", "1", "--rate", "10"], {
      config,
      target: "t",
    });
    expect(run.exitCode, errorOf(run)).toBe(0);
    const report = run.events.find((e) => e.type === "result")!.data as ProbeReport;
    expect(report).toMatchObject({
      hostname: "www.elm-lang.org",
      sent: 10,
      ok: 10,
      connectionErrors: 0,
    });
  });

  it("prints the report, then the error, and exits 1 when a request failed", async () => {
    reset((n) => (n === 3 ? "unavailable" : "ok"));
    const run = await runCli(
      ["probe", "elm-lang.org", "--seconds", "1", "--rate", "10", "--path", "/health"],
      { config, target: "t" },
    );
    expect(run.exitCode).toBe(1);
    const types = run.events.map((e) => e.type);
    expect(types.indexOf("result")).toBeLessThan(types.indexOf("error"));
    expect((run.events.find((e) => e.type === "result")!.data as ProbeReport).non2xx).toBe(1);
    expect(errorOf(run)).toBe(
      "1 of 10 requests to elm-lang.org failed (1 non-2xx, 0 connection errors)",
    );
  });

  it.each([
    [
      ["probe", "example.org"],
      /unknown hostname "example.org"/,
      /hostnames on t: elm-lang.org, www.elm-lang.org/,
    ],
    [
      ["probe", "elm-lang.org", "--rate", "5"],
      /between 10 and 200 requests a second, not 5/,
      undefined,
    ],
    [["probe", "elm-lang.org", "--seconds", "soon"], /--seconds takes a number/, undefined],
    [
      ["probe", "elm-lang.org", "--path", "health"],
      /--path must be a path like \/health/,
      undefined,
    ],
  ])("%j exits 2 and says why", async (args, message, hint) => {
    reset(() => "ok");
    const run = await runCli(args, { config, target: "t" });
    expect(run.exitCode).toBe(2);
    expect(errorOf(run)).toMatch(message);
    if (hint) expect(String(run.events.find((e) => e.type === "error")!.hint)).toMatch(hint);
    expect(served).toBe(0);
  });
});
