/**
 * Issue 11 on the shared cluster: scale (managers 1 -> 3 -> 1 and workers 2 -> 3 -> 2, together) with a probe
 * through the load balancer for the whole command, its refusals (nothing changed after), replace,
 * and the loss of a manager and of a worker (killed hard), both replaced by one bring-up. Each
 * scenario leaves 1 manager + 2 workers, healthy. Host creations are the e2e's longest steps:
 * where one creation (or one bring-up) can serve two proofs, it does: the host-loss scenario
 * runs from the second working copy (issue 23: status --check, scale, a deploy, bring-up, reboot
 * from another folder, with its own operator's keys and what it reads from the store), and a
 * bring-up from the first copy is refused while its scale holds the lease.
 */
import { copyFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ResultPromise } from "execa";
import { expect, it } from "vitest";
import type { BringUpResult } from "../../../src/commands/bring-up.js";
import type { RebootResult } from "../../../src/commands/reboot.js";
import type { ReplaceResult } from "../../../src/commands/replace.js";
import { bootIdentityCommand } from "../../../src/plan/reboot.js";
import type { RollbackResult } from "../../../src/commands/rollback.js";
import type { StatusResult } from "../../../src/commands/status.js";
import { connectToCluster } from "../../../src/cluster/connect.js";
import type { ScaleResult } from "../../../src/commands/scale.js";
import { failedRequests, type ProbeReport } from "../../../src/traefik/probe.js";
import type { ClusterView } from "../../../src/tasks/verify.js";
import { loadConfig } from "../../../src/config/load.js";
import {
  anyVersion,
  buildContext,
  deployFromFixtures,
  docker,
  e2e,
  elmInfra,
  ensureDeployed,
  errorOf,
  hostNames,
  packageDataHolder,
  resultOf,
  runningVersions,
  underProbe,
  viaLoadBalancer,
  volumeSums,
  elmInfraWatched,
  secondCopy,
  stepsBegun,
  type Run,
  type RunOverrides,
} from "../support.js";

const host = (role: "manager" | "worker", n: number) => `${e2e.target}-${role}-${n}`;

/** The probe on elm-lang.org alone, 10 a second, for the whole of `work` (support.ts's underProbe). */
const probingTheSite = <T>(work: (sofar: () => ProbeReport | undefined) => Promise<T>) =>
  underProbe((sofar) => work(() => sofar()[0]), {
    hostnames: ["elm-lang.org"],
    ratePerSecond: 10,
  }).then(({ value, reports }) => ({ value, report: reports[0]! }));

const counts = async (file = e2e.config) => {
  const text = await readFile(file, "utf8");
  const of = (f: string) => Number(new RegExp(`\\n {4}${f}: (\\d+)`).exec(text)?.[1]);
  return { managers: of("managers"), workers: of("workers") };
};

/** What a refused scale must leave as it was: the hosts and each job's version. */
async function clusterState(
  o?: RunOverrides,
): Promise<{ hosts: string; jobs: Record<string, number | null> }> {
  const status = await elmInfra(["status"], undefined, o);
  const services = resultOf<{ services: Array<{ service: string; jobVersion: number | null }> }>(
    status,
  ).services;
  return {
    hosts: await hostNames(),
    jobs: Object.fromEntries(services.map((s) => [s.service, s.jobVersion])),
  };
}

function expectNoFailure(report: ProbeReport, what: string): void {
  console.log(
    `${what}: probe sent ${report.sent}, ok ${report.ok}, failed ${failedRequests(report)}, longest gap ${report.longestGapMs} ms, workers ${JSON.stringify(report.workers)}`,
  );
  for (const f of report.failures.slice(0, 5)) console.log(`${what}: failed at ${f.at}: ${f.what}`);
  expect(report.failures, what).toEqual([]);
  expect(failedRequests(report)).toBe(0);
  expect(report.sent).toBeGreaterThan(50);
}

function expectScaled(r: Run, managers: number, workers: number) {
  expect(r.exitCode, errorOf(r)).toBe(0);
  const data = resultOf<ScaleResult>(r);
  expect({ managers: data.managers, workers: data.workers }).toEqual({ managers, workers });
  expect(data.cluster!.checks.filter((c) => !c.ok)).toEqual([]);
  return data;
}

export function scaleScenarios(): void {
  // The refusal of a degraded cluster (exit 3) is proven on the managers' scenario below, while
  // one of its managers is dead: no agent stopped and awaited here for it.
  it("scale refuses an even or zero manager count (exit 2), changing nothing", async () => {
    const before = await clusterState();
    for (const managers of ["2", "0"]) {
      const r = await elmInfra(["scale", "--managers", managers, "--yes"]);
      expect(r.exitCode).toBe(2);
      expect(errorOf(r)).toMatch(new RegExp(`to ${managers} managers: .*odd number`));
    }
    expect(await counts()).toEqual({ managers: 1, workers: 2 });
    expect(await clusterState()).toEqual(before);
  });
}

/** scale (by the copy `o` names) on a cluster with `dead` down: refused with exit 3 naming it, nothing changed. */
async function expectDegradedScaleRefused(
  dead: string,
  now: { managers: number; workers: number },
  o: RunOverrides = {},
) {
  const before = await clusterState(o);
  const refused = await elmInfra(
    ["scale", "--workers", String(now.workers + 1), "--yes"],
    undefined,
    o,
  );
  expect(refused.exitCode).toBe(3);
  expect(errorOf(refused)).toMatch(
    new RegExp(`scale refused: target ${e2e.target} is not healthy now:[\\s\\S]*${dead}`),
  );
  expect(await counts(o.config)).toEqual(now);
  expect(await clusterState(o)).toEqual(before);
}

/**
 * A worker container killed hard under the probe on elm-lang.org: no failed request 30 s after
 * the kill, < 2 % in between. Returns the worker killed.
 */
async function workerLoss(victim: string): Promise<string> {
  let killedAt = 0;
  const { report } = await probingTheSite(async () => {
    await new Promise((r) => setTimeout(r, 5000));
    killedAt = Date.now();
    await docker("kill", victim);
    await new Promise((r) => setTimeout(r, 60_000));
  });
  const after = (f: { at: string }) => Date.parse(f.at) - killedAt;
  const late = report.failures.filter((f) => after(f) > 30_000);
  const recoveryMs = Math.max(0, ...report.failures.map(after));
  console.log(
    `worker killed: recovery ${recoveryMs} ms, ${failedRequests(report)} of ${report.sent} failed`,
  );
  expect(late).toEqual([]);
  expect(failedRequests(report) / report.sent).toBeLessThan(0.02);
  return victim;
}

/**
 * A version of elm-lang.org in its job history that does not run now: rollback's target. In a
 * whole run the zero-downtime scenarios left both 1.0.0 and 1.0.1 there; run alone, the missing
 * one is deployed first and the running one again after it.
 */
async function earlierVersion(): Promise<string> {
  const running = (await runningVersions())["elm-lang.org"]!;
  const earlier = running === "1.0.1" ? "1.0.0" : "1.0.1";
  const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  const apis = await connectToCluster(loaded);
  const history = await apis.nomad.jobVersions("elm-lang.org").finally(() => apis.close());
  if (!history.some((job) => job.Meta?.version === earlier)) {
    for (const version of [earlier, running]) {
      const r = await deployFromFixtures("elm-lang.org", version);
      expect(r.exitCode, errorOf(r)).toBe(0);
    }
  }
  return earlier;
}

/** The nodes where a running allocation of the service is at `version`, as status reports them. */
async function nodesRunning(service: string, version: string): Promise<string[]> {
  const status = await elmInfra(["status"]);
  expect(status.exitCode, errorOf(status)).toBe(0);
  const found = resultOf<StatusResult>(status).services.find((s) => s.service === service);
  return (found?.allocations ?? [])
    .filter((a) => a.version === version && a.status === "running")
    .map((a) => a.node);
}

export function replaceScenarios(): void {
  // Issue 20: every version ever pushed stays pullable. The new worker joined while one version
  // ran; a rollback to an earlier one (from the registry, never shipped to it) must land there.
  it("replace of a worker and then of the manager under the probe: 0 failed requests, the same counts, new nodes; between them, a rollback to a version that was not running when the new worker joined puts an allocation of it on the new worker", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion });
    const earlier = await earlierVersion();
    const unknown = await elmInfra(["replace", host("worker", 9), "--yes"]);
    expect(unknown.exitCode).toBe(2);
    expect(errorOf(unknown)).toMatch(/no such host/);
    // worker-1 holds the package data (the first holder; nothing moved it since): its
    // replacement moves the volume, every byte with it.
    expect(await packageDataHolder()).toBe(host("worker", 1));
    const sums = await volumeSums(host("worker", 1));
    expect(sums).not.toBe("");
    const { report } = await probingTheSite(async () => {
      const worker = await elmInfra(["replace", host("worker", 1), "--yes"]);
      expect(worker.exitCode, errorOf(worker)).toBe(0);
      const w = resultOf<ReplaceResult>(worker);
      expect(w.created).toEqual([host("worker", 3)]);
      expect(w.removed).toEqual([host("worker", 1)]);
      const [move] = w.packageDataMoves;
      expect(move).toMatchObject({ from: host("worker", 1), to: host("worker", 2) });
      console.log(`replace of the holder: package.elm-lang.org down ${move!.downMs} ms`);
      expect(await packageDataHolder()).toBe(host("worker", 2));
      expect(await volumeSums(host("worker", 2))).toBe(sums);
      expect(await viaLoadBalancer("package.elm-lang.org", "/health")).toBe(200);
      const rollback = await elmInfra(["rollback", `elm-lang.org@${earlier}`, "--yes"]);
      expect(rollback.exitCode, errorOf(rollback)).toBe(0);
      expect(resultOf<RollbackResult>(rollback).to).toBe(earlier);
      expect(await nodesRunning("elm-lang.org", earlier)).toContain(host("worker", 3));
      const manager = await elmInfra(["replace", host("manager", 1), "--yes"]);
      expect(manager.exitCode, errorOf(manager)).toBe(0);
      const m = resultOf<ReplaceResult>(manager);
      expect(m.created).toEqual([host("manager", 2)]);
      expect({ managers: m.managers, workers: m.workers }).toEqual({ managers: 1, workers: 2 });
      expect(m.cluster!.checks.filter((c) => !c.ok)).toEqual([]);
    });
    expectNoFailure(report, "replace worker-1, manager-1");
    expect(await counts()).toEqual({ managers: 1, workers: 2 });
    expect((await hostNames()).split("\n")).toEqual([
      host("manager", 2),
      host("worker", 2),
      host("worker", 3),
    ]);
  });
}

/**
 * Losing machines, after replace: managers 1 -> 3 -> 1 with one of the 3 killed hard, and a
 * worker killed hard, both replaced by one bring-up. Leaves 1 manager + 2 workers, healthy.
 */
export function hostLossScenarios(): void {
  // One bring-up serves two proofs: it replaces a dead manager and a dead worker (the VM loss)
  // at once, instead of one bring-up each; the dead manager is also the degraded cluster that
  // scale refuses.
  // The workers' scale (2 -> 3 -> 2) rides on the managers' (1 -> 3 -> 1): one scale creates
  // both, one scale removes both, instead of a host creation and a removal of its own.
  // Issue 23: all of it from the second working copy (another folder, its .elm-infra/ empty,
  // its own operator's age identity and SSH key), on the target the first copy brought up; while
  // its scale holds the lease in the store, a bring-up from the first copy is refused naming it.
  it("from a second working copy: status --check, then managers 1 -> 3 -> 1 and workers 2 -> 3 -> 2 under the probe (the new worker answers, then leaves with 0 failed requests), a bring-up from the first copy refused meanwhile (exit 3, the second copy's scale named), one of the 3 managers killed hard on the way: scale refuses the degraded cluster (exit 3, nothing changed), a deploy still succeeds; then a worker container killed hard: no failed request 30 s after the kill, < 2 % in between; one bring-up replaces both with new nodes (3 healthy voters, one new), then the leading manager of the 3 is rebooted (its leadership handed over first, 3 voters again), 0 failed requests but in the worker's loss", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion });
    const second = secondCopy();
    await startSecondCopy(second);
    // The deploy on the way: the other of 1.0.0 and 1.0.1 than the one running (replace's rollback
    // may have left either).
    const next = (await runningVersions())["elm-lang.org"] === "1.0.1" ? "1.0.0" : "1.0.1";
    // After replace (1 + 2, not necessarily manager-1): the new managers take the lowest free
    // numbers (the planner's rule); the highest of them is killed.
    const names = (await hostNames()).split("\n");
    const created = freeNames(names, "manager", 2);
    const [newWorker] = freeNames(names, "worker", 1);
    const victim = created.at(-1)!;
    let before: string[] = [];
    let kept = "";
    const managersUp = await probingTheSite(async (sofar) => {
      const { run: scaled, watched: refused } = await elmInfraWatched(
        ["scale", "--managers", "3", "--workers", "3", "--yes"],
        bringUpWhileHeld,
        second,
      );
      const up = expectScaled(scaled, 3, 3);
      expect(refused.exitCode, errorOf(refused)).toBe(3);
      expect(errorOf(refused)).toMatch(
        new RegExp(
          `bring-up refused: scale by second-operator \\(CI\\) on .+ \\(since .+\\) holds the operations lock of target ${e2e.target}`,
        ),
      );
      expect(up.created).toEqual([...created, newWorker]);
      expect(await counts(second.config)).toEqual({ managers: 3, workers: 3 });
      // The new worker's Traefik is in the load balancer: the probe sees it answer.
      for (let i = 0; i < 30 && !sofar()?.workers[newWorker!]; i++)
        await new Promise((r) => setTimeout(r, 1000));
      expect(sofar()?.workers[newWorker!] ?? 0).toBeGreaterThan(0);
      before = (await hostNames()).split("\n");
      await docker("kill", victim);
      await waitUntil(false, undefined, second);
      await expectDegradedScaleRefused(victim, { managers: 3, workers: 3 }, second);
      const deploy = await elmInfra(
        [
          "deploy",
          `elm-lang.org@${next}`,
          "--build",
          "--context",
          await buildContext("elm-lang.org"),
          "--yes",
        ],
        undefined,
        second,
      );
      expect(deploy.exitCode, errorOf(deploy)).toBe(0);
    });
    expectNoFailure(
      managersUp.report,
      "managers 1 -> 3 and workers 2 -> 3, one manager killed, scale refused, a deploy",
    );

    // The VM loss: the worker that holds the package data. That site is down until bring-up
    // attaches the volume to another worker and starts it there, with every byte it had.
    const holderBefore = await packageDataHolder(second.config);
    const sums = await volumeSums(holderBefore);
    expect(sums).not.toBe("");
    let workerVictim = "";
    let report: ProbeReport | undefined;
    const { reports: packageSite } = await underProbe(
      async () => {
        workerVictim = await workerLoss(holderBefore);
        ({ report } = await probingTheSite(async () => {
          await waitUntil(false, undefined, second);
          const r = await elmInfra(["bring-up", "--yes"], undefined, second);
          // Exit 0 only once every deployed service serves (bring-up's last step).
          expect(r.exitCode, errorOf(r)).toBe(0);
          const data = resultOf<BringUpResult>(r);
          expect(data.deadHosts.map((d) => d.host).sort()).toEqual([victim, workerVictim].sort());
          expect(data.changes.join("\n")).toMatch(
            /package\.elm-lang\.org started on .*data volume/,
          );
          const holderAfter = await packageDataHolder(second.config);
          expect(holderAfter).not.toBe(holderBefore);
          expect(await volumeSums(holderAfter)).toBe(sums);
          expect(await viaLoadBalancer("package.elm-lang.org", "/health")).toBe(200);
          await afterBringUp(data);
        }));
      },
      { hostnames: ["package.elm-lang.org"], ratePerSecond: 10 },
    );
    console.log(
      `holder lost: package.elm-lang.org down ${packageSite[0]!.longestGapMs} ms (longest gap), ${failedRequests(packageSite[0]!)} of ${packageSite[0]!.sent} failed`,
    );
    expect(packageSite[0]!.ok).toBeGreaterThan(0);
    expectNoFailure(
      report!,
      "bring-up replacing the killed manager and worker, managers 3 -> 1, workers 3 -> 2",
    );
    expect(await counts(second.config)).toEqual({ managers: 1, workers: 2 });
    expect(roleOf((await hostNames()).split("\n"), "manager")).toEqual([kept]);
    expect(roleOf((await hostNames()).split("\n"), "worker")).toHaveLength(2);
    await backToFirstCopy(second);

    /** The rest of the proof after bring-up: the replaced hosts, 3 voters, then down to 1 + 2. */
    async function afterBringUp(data: BringUpResult): Promise<void> {
      const fresh = await expectReplaced(before, [victim, workerVictim]);
      for (const system of ["Nomad", "Consul"]) {
        const voters = data.cluster!.checks.filter(
          (c) => c.ok && c.name.startsWith(`${system}: `) && c.name.endsWith(" is a voter"),
        );
        expect(voters.map((c) => c.name)).toHaveLength(3);
        expect(voters.map((c) => c.name)).toContain(`${system}: ${fresh.manager} is a voter`);
      }
      expect(data.cluster!.checks.filter((c) => !c.ok)).toEqual([]);
      await rebootTheLeader(roleOf((await hostNames()).split("\n"), "manager"), second);
      // Down to one manager and two workers: the lowest numbers stay, the others leave, the
      // workers first, each role highest first.
      const now = (await hostNames()).split("\n");
      const managers = roleOf(now, "manager").sort(byNumber);
      const workers = roleOf(now, "worker").sort(byNumber);
      expect(managers).toContain(fresh.manager);
      const down = expectScaled(
        await elmInfra(["scale", "--managers", "1", "--workers", "2", "--yes"], undefined, second),
        1,
        2,
      );
      expect(down.removed).toEqual([workers.at(-1), ...managers.slice(1).reverse()]);
      kept = managers[0]!;
    }
  });
}

/** Everything a run printed: its JSON events and stderr. */
const said = (r: Run) => `${JSON.stringify(r.events)}\n${r.stderr}`;

/**
 * The second working copy's first command: `status --check` with nothing of its own but
 * cluster.yaml (pulled: the first copy's as of now) and the repository's jobs and images. It
 * reads the cluster secrets and the target's files from the store with its own identity, logs
 * in with its own SSH key, and writes no secrets file.
 */
async function startSecondCopy(second: RunOverrides): Promise<void> {
  await copyFile(e2e.config, second.config!);
  expect((await readdir(second.cwd!)).sort()).toEqual(["cluster.yaml", "images", "jobs"]);
  const r = await elmInfra(["status", "--check"], undefined, second);
  expect(r.exitCode, errorOf(r)).toBe(0);
  expect(said(r)).toContain(`read from the store of target ${e2e.target}: the cluster secrets`);
  expect(resultOf<{ cluster: ClusterView }>(r).cluster.healthy).toBe(true);
  expect((await readdir(second.cwd!)).sort()).toEqual([
    ".elm-infra",
    "cluster.yaml",
    "images",
    "jobs",
  ]);
}

/**
 * While the second copy's scale runs: once it has begun its steps (the lease taken), a
 * bring-up from the first copy, which the lease refuses.
 */
async function bringUpWhileHeld(running: ResultPromise): Promise<Run> {
  let ended = false;
  void running.finally(() => (ended = true)).catch(() => undefined);
  await stepsBegun(running);
  // a scale that failed before its steps holds nothing: no bring-up on a half-changed target
  if (ended) throw new Error("the second copy's scale ended before it began its steps");
  return elmInfra(["bring-up", "--yes"]);
}

/**
 * Back to the first copy: its cluster.yaml pulled from the second's (the counts its scales
 * wrote, as git would bring them); its inventory and pinned host keys, which the second copy
 * changed, are taken from the store as it loads (unchanged here since it last shared them).
 */
async function backToFirstCopy(second: RunOverrides): Promise<void> {
  await copyFile(second.config!, e2e.config);
  const state = join(e2e.work, ".elm-infra", e2e.target);
  const r = await elmInfra(["status", "--check"]);
  expect(r.exitCode, errorOf(r)).toBe(0);
  const refreshed = r.events
    .map((e) => String(e.message ?? ""))
    .find((m) => m.includes(`refreshed from the store of target ${e2e.target}`));
  expect(refreshed, said(r)).toBeDefined();
  for (const file of ["inventory.json", "known_hosts"])
    expect(refreshed).toContain(join(state, file));
}

/**
 * Issue 22's reboot of a manager of three (the probe runs around it): the one that leads is
 * planned with its leadership handed over first, reboots (its boot identity changes), and the
 * cluster proves three healthy voters again, with no --allow-api-outage (the others keep quorum).
 */
async function rebootTheLeader(managers: string[], o?: RunOverrides): Promise<void> {
  expect(managers).toHaveLength(3);
  const planned = await elmInfra(["reboot", ...managers, "--dry-run"], undefined, o);
  expect(planned.exitCode, errorOf(planned)).toBe(0);
  const plan = resultOf<RebootResult>(planned).plan;
  const leader = plan.order.find((s) => s.leads)?.host;
  expect(leader, `a leader among ${managers.join(", ")}`).toBeDefined();
  // The leader goes last: its followers first.
  expect(plan.order.at(-1)?.host).toBe(leader);
  const boot = await bootOf(leader!);
  const r = await elmInfra(["reboot", leader!, "--yes"], undefined, o);
  expect(r.exitCode, errorOf(r)).toBe(0);
  const done = resultOf<RebootResult>(r);
  expect(done.rebooted.map((h) => h.host)).toEqual([leader]);
  expect(await bootOf(leader!)).not.toBe(boot);
  for (const system of ["Nomad", "Consul"]) {
    const voters = done.cluster!.checks.filter(
      (c) => c.ok && c.name.startsWith(`${system}: `) && c.name.endsWith(" is a voter"),
    );
    expect(voters, system).toHaveLength(3);
  }
  expect(done.cluster!.checks.filter((c) => !c.ok)).toEqual([]);
}

const bootOf = (name: string) => docker("exec", name, "sh", "-c", bootIdentityCommand);

const number = (name: string) => Number(/-(\d+)$/.exec(name)?.[1]);
const byNumber = (a: string, b: string) => number(a) - number(b);

/** The names `count` new hosts of `role` get: the lowest numbers no host of that role has. */
function freeNames(names: string[], role: "manager" | "worker", count: number): string[] {
  const taken = new Set(roleOf(names, role).map(number));
  const free: string[] = [];
  for (let n = 1; free.length < count; n++) if (!taken.has(n)) free.push(host(role, n));
  return free;
}

/** Polls status (by the copy `o` names) until the cluster is (or is no longer) healthy, within a deadline. */
export async function waitUntil(
  healthy: boolean,
  deadlineMs = 120_000,
  o?: RunOverrides,
): Promise<ClusterView> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const view = resultOf<{ cluster: ClusterView }>(
      await elmInfra(["status"], undefined, o),
    ).cluster;
    if (view.healthy === healthy || Date.now() > end) {
      expect(view.healthy, JSON.stringify(view.checks.filter((c) => !c.ok))).toBe(healthy);
      return view;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const roleOf = (names: string[], role: "manager" | "worker") =>
  names.filter((n) => n.startsWith(`${e2e.target}-${role}-`));

/** After bring-up replaced the `dead`: the same count, the dead gone, one new name per dead one's role. */
async function expectReplaced(before: string[], dead: string[]) {
  const after = (await hostNames()).split("\n");
  expect(after).toHaveLength(before.length);
  for (const d of dead) expect(after).not.toContain(d);
  const fresh = { manager: "", worker: "" };
  for (const role of ["manager", "worker"] as const) {
    const gone = dead.filter((d) => roleOf(before, role).includes(d));
    const added = roleOf(after, role).filter((n) => !before.includes(n));
    expect(added, role).toHaveLength(gone.length);
    fresh[role] = added[0] ?? "";
  }
  return fresh;
}
