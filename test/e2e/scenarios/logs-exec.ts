/**
 * Issue 23's `logs` and `exec` on the shared cluster, through the manager's Nomad API over SSH
 * (the servers forward both to the workers' client agents): `logs -f` shows every allocation's
 * lines and a line the site wrote after it started, and stops at once on Ctrl-C (exit 130);
 * `exec` runs a command in a running allocation, the one `--alloc` names, and exits with the
 * command's exit code. Read-only: the cluster is left as it was.
 */
import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { withCluster } from "../../../src/cluster/connect.js";
import type { ExecResult } from "../../../src/commands/exec.js";
import { loadConfig } from "../../../src/config/load.js";
import { done, notYet, waitFor } from "../../../src/wait.js";
import {
  anyVersion,
  e2e,
  elmInfra,
  ensureDeployed,
  errorOf,
  resultOf,
  runOf,
  start,
  throughLoadBalancer,
  type Run,
} from "../support.js";

type LineEvent = { type: "line"; alloc: string; node: string; stream: string; text: string };
const linesOf = (events: Array<Record<string, unknown>>) =>
  events.filter((e): e is LineEvent => e.type === "line");
const parse = (stdout: string) =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The allocations `logs -f` showed lines of, for the exec that names one with --alloc. */
const seen = new Set<string>();

/**
 * `exec` of a command that runs at least `commandMs` (its own `sleep`). Nomad 1.10's Docker
 * driver can answer before Docker has started the command: its ExecTaskStreaming polls
 * ExecInspect right after the attach, and an exec not started yet reads as not running with exit
 * code 0, which Nomad sends as the exit (drivers/docker/driver.go; seen in CI of 2026-12-07: exit
 * 0, no output, 0.9 s for a command that sleeps 1 s). elm-infra passes on what Nomad says; a
 * session that ended sooner than the command could have, with exit 0 and nothing printed, did not
 * run it and is tried again (at most 3 times, each said).
 */
async function execThatRan(args: string[], commandMs: number): Promise<Run> {
  let r: Run | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const began = Date.now();
    r = await elmInfra(args, 60_000, { globalsFirst: true });
    const tookMs = Date.now() - began;
    const premature = r.exitCode === 0 && linesOf(r.events).length === 0 && tookMs < commandMs;
    if (!premature) return r;
    console.log(
      `exec attempt ${attempt}: Nomad said exit 0 after ${tookMs} ms with no output, before the command could have run (${commandMs} ms): again`,
    );
  }
  return r!;
}

export function logsExecScenarios(): void {
  it("logs -f: both allocations' lines, then a request's line the site wrote after it started; Ctrl-C ends it at once (exit 130)", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion });
    const began = Date.now();
    const child = start(["logs", "elm-lang.org", "-f", "--stdout"], 90_000);
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    // Following once the first lines came (the log's end: the health checks' requests).
    await waitFor(
      { what: "logs -f to print lines", timeoutMs: 30_000, intervalMs: 100 },
      async () =>
        linesOf(parse(stdout)).length > 0
          ? done(true)
          : notYet(stdout.slice(-300) || "nothing yet"),
    );
    const path = `/logs-e2e-${randomBytes(4).toString("hex")}`;
    const requested = Date.now();
    expect((await throughLoadBalancer("elm-lang.org", path)).status).toBe(404);
    const line = await waitFor(
      { what: `the line of GET ${path}`, timeoutMs: 15_000, intervalMs: 100 },
      async () => {
        const found = linesOf(parse(stdout)).find((l) => l.text.includes(`GET ${path} `));
        return found ? done(found) : notYet(`${linesOf(parse(stdout)).length} lines so far`);
      },
    );
    const shownAfterMs = Date.now() - requested;
    expect(line).toMatchObject({ stream: "stdout", node: expect.stringMatching(/-worker-\d+$/) });
    expect(line.text).toMatch(new RegExp(`"GET ${path} HTTP/1.1" 404`));

    const stopped = Date.now();
    child.kill("SIGINT");
    const r: Run = runOf(await child);
    const stopMs = Date.now() - stopped;
    expect(r.exitCode, errorOf(r)).toBe(130);
    expect(stopMs).toBeLessThan(3_000);
    expect(r.events.find((e) => e.type === "error")?.message).toBe("interrupted");
    // Every running allocation's log, interleaved: the health checks reach both.
    for (const l of linesOf(r.events)) seen.add(l.alloc);
    expect(seen.size).toBe(2);
    expect(new Set(linesOf(r.events).map((l) => l.stream))).toEqual(new Set(["stdout"]));
    e2e.timings["logs elm-lang.org -f"] = Date.now() - began;
    console.log(
      `logs -f: the request's line shown ${shownAfterMs} ms after it, stopped in ${stopMs} ms`,
    );
  });

  it("exec runs a command in a running allocation and exits with its exit code; --alloc picks one; an unknown service exits 2", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion });
    const inCluster = { globalsFirst: true };
    const failing = await execThatRan(
      [
        "exec",
        "elm-lang.org",
        "--",
        "sh",
        "-c",
        // sleep 2: Nomad 1.10's exec can end the session before a command that exits at once
        // has its output streamed (hashicorp/nomad#27146, open; seen here once on cat), and a
        // session that ends sooner than that did not run it (execThatRan).
        'echo "$NOMAD_ALLOC_ID"; echo to-stderr >&2; sleep 2; exit 7',
      ],
      2000,
    );
    expect(failing.exitCode, errorOf(failing)).toBe(7);
    const out = linesOf(failing.events);
    const alloc = out[0]?.alloc ?? "";
    // It ran in the allocation it names, with the task's environment, both streams apart.
    expect(out.filter((l) => l.stream === "stdout").map((l) => l.text)).toEqual([alloc]);
    expect(out.filter((l) => l.stream === "stderr").map((l) => l.text)).toEqual(["to-stderr"]);
    expect(failing.events.find((e) => e.type === "error")).toMatchObject({
      exitCode: 7,
      message: expect.stringContaining("exited with code 7"),
    });

    const other = [...seen].find((id) => id !== alloc) ?? alloc;
    const hostname = await execThatRan(
      [
        "exec",
        "elm-lang.org",
        "--alloc",
        other.slice(0, 8),
        "--",
        "sh",
        "-c",
        "cat /etc/hostname; sleep 2",
      ],
      2000,
    );
    expect(hostname.exitCode, errorOf(hostname)).toBe(0);
    expect(resultOf<ExecResult>(hostname)).toMatchObject({ alloc: other, exitCode: 0, tty: false });
    expect(linesOf(hostname.events).map((l) => [l.stream, l.text])).toEqual([
      ["stdout", expect.stringMatching(/^[0-9a-z][0-9a-z.-]*$/)],
    ]);

    const unknown = await elmInfra(["exec", "no-such.org", "--", "true"], 60_000, inCluster);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.events.find((e) => e.type === "error")).toMatchObject({
      message: 'unknown service "no-such.org"',
      hint: expect.stringContaining("elm-lang.org"),
    });
  });

  it("a token that may read the job but not its logs or exec into it: logs and exec exit 1 naming read-logs and alloc-exec, the token never shown", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion });
    // A token of its own, made with the management token (it stays in the run's cluster).
    const config = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
    const token = await withCluster(
      config,
      { signal: AbortSignal.timeout(30_000) },
      async ({ nomad }) => {
        await nomad.upsertPolicy(
          "e2e-job-readers",
          'namespace "default" {\n  capabilities = ["list-jobs", "read-job"]\n}\n',
        );
        return (await nomad.createToken("e2e-job-reader", ["e2e-job-readers"])).SecretID;
      },
    );
    const env = { env: { ELM_INFRA_NOMAD_TOKEN: token }, globalsFirst: true };
    const logs = await elmInfra(["logs", "elm-lang.org"], 60_000, env);
    const exec = await elmInfra(["exec", "elm-lang.org", "--", "true"], 60_000, env);
    for (const [r, capability] of [
      [logs, "read-logs"],
      [exec, "alloc-exec"],
    ] as const) {
      expect(r.exitCode, errorOf(r)).toBe(1);
      expect(errorOf(r)).toMatch(
        new RegExp(
          `permission denied; the token needs namespace capability ${capability} \\(Nomad at 127\\.0\\.0\\.1:4646 on ${e2e.target}-manager-\\d+ \\(through SSH\\)\\)`,
        ),
      );
      expect(JSON.stringify(r.events) + r.stderr).not.toContain(token);
    }
  });
}
