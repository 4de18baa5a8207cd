/**
 * Issue 22, items 1 and 2: hosts that reboot come back into service.
 * - A worker's host container restarted (`docker restart`: systemd halts cleanly) and the other
 *   killed and started again (a power cut), under the probe on both sites: no allocation of the
 *   dead boot is left holding ports (the ingress's new allocation runs on the killed one), and
 *   `status --check` names the spread the kill cost.
 * - `reboot --all --allow-api-outage --upgrade-packages` (1 manager + 2 workers) under the probe:
 *   every host's boot identity changes once, elm-lang.org fails no request, the package site's
 *   downtime (its data moved off each worker before it reboots) is printed; afterwards the spread
 *   is back (the reboot moved an allocation of elm-lang.org back: the rebalancing proof, the
 *   spread lost by the kill above) and `status --check` is clean. Each host had elm-infra-security-canary 1 from the
 *   target's stand-in for Debian's security archive: the upgrades before each reboot brought 2,
 *   the result names it per host, and Consul and Nomad are still at their pinned versions, held.
 * Leaves 1 manager + 2 workers, both sites serving.
 */
import { expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import { connectToCluster } from "../../../src/cluster/connect.js";
import type { RebootResult } from "../../../src/commands/reboot.js";
import type { StatusResult } from "../../../src/commands/status.js";
import { pinnedVersion } from "../../../src/plan/jobs.js";
import { bootIdentityCommand } from "../../../src/plan/reboot.js";
import { failedRequests, type ProbeReport } from "../../../src/traefik/probe.js";
import { sleep } from "../../../src/wait.js";
import {
  anyVersion,
  docker,
  e2e,
  elmInfra,
  elmInfraTimed,
  ensureDeployed,
  errorOf,
  failedRequestsOf,
  noFailures,
  packageDataHolder,
  resultOf,
  underProbe,
  viaLoadBalancer,
} from "../support.js";

const host = (role: "manager" | "worker", n: number) => `${e2e.target}-${role}-${n}`;
const bootOf = (name: string) => docker("exec", name, "sh", "-c", bootIdentityCommand);
const canary = "elm-infra-security-canary";
const installCanary1 = `apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${canary}=1 >/dev/null`;
/** The installed version of each package on a host ("" for one not installed), and the holds. */
const packagesOf = async (name: string, packages: string[]) => ({
  versions: Object.fromEntries(
    await Promise.all(
      packages.map(async (p) => [
        p,
        await docker("exec", name, "sh", "-c", `dpkg-query -W -f '\${Version}' ${p} || true`),
      ]),
    ),
  ) as Record<string, string>,
  held: (await docker("exec", name, "apt-mark", "showhold")).split("\n").sort(),
});

const say = (what: string, r: ProbeReport) =>
  console.log(
    `${what}: ${r.hostname}: sent ${r.sent}, failed ${failedRequests(r)}, longest gap ${r.longestGapMs} ms`,
  );

/** Polls `check` once a second, at most `seconds`; the last answer either way. */
async function within<T>(seconds: number, check: () => Promise<T>, ok: (v: T) => boolean) {
  let seen = await check();
  for (let i = 0; i < seconds && !ok(seen); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    seen = await check();
  }
  return seen;
}

async function withApis<T>(
  work: (apis: Awaited<ReturnType<typeof connectToCluster>>) => Promise<T>,
) {
  const apis = await connectToCluster(await loadConfig({ file: e2e.config, target: e2e.target }));
  try {
    return await work(apis);
  } finally {
    await apis.close();
  }
}

/** Each node's state, and the allocations on it the servers stopped but its client says run. */
const nodesNow = () =>
  withApis(async (apis) => {
    const nodes = await apis.nomad.nodes();
    const out: Record<string, { status: string; stale: string[]; ingress: boolean }> = {};
    for (const n of nodes) {
      const allocs = (await apis.nomad.nodeAllocations(n.ID)).data;
      out[n.Name] = {
        status: n.Status,
        stale: allocs
          .filter((a) => a.DesiredStatus !== "run" && a.ClientStatus === "running")
          .map((a) => `${a.JobID}/${a.TaskGroup} ${a.ID.slice(0, 8)}`),
        ingress: allocs.some(
          (a) => a.JobID === "ingress" && a.DesiredStatus === "run" && a.ClientStatus === "running",
        ),
      };
    }
    return out;
  });

export function rebootScenarios(): void {
  it("a worker restarted and the other killed and started again, under the probe: each serves again (no failed request once both are back), no allocation of a dead boot holds ports, and status --check names the spread the kill cost", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion, "package.elm-lang.org": anyVersion });
    // The holder is restarted (its data volume must be mounted again at boot); the other killed.
    const holder = await packageDataHolder();
    const other = [host("worker", 1), host("worker", 2)].find((w) => w !== holder)!;
    const { reports } = await underProbe(
      async () => {
        await docker("restart", holder);
        // Ready with its Traefik placed again, and within a minute nothing of the boot before
        // still "running" there: its stopped containers are gone before Nomad starts, so the
        // client's recovery of them fails at once and they end.
        const back = await within(
          180,
          nodesNow,
          (n) =>
            n[holder]?.status === "ready" && n[holder]!.ingress && n[holder]!.stale.length === 0,
        );
        expect(back[holder], `${holder} after its restart`).toMatchObject({
          status: "ready",
          stale: [],
          ingress: true,
        });
        expect(
          await within(
            120,
            () => viaLoadBalancer("package.elm-lang.org", "/health"),
            (s) => s === 200,
          ),
        ).toBe(200);

        await docker("kill", other);
        const down = await within(120, nodesNow, (n) => n[other]?.status === "down");
        expect(down[other]?.status, `${other} seen down by Nomad`).toBe("down");
        await docker("start", other);
        // Back in service: ready, its Traefik placed and running again, and nothing of the
        // boot before still "running" there (Nomad's client otherwise reported the old Traefik
        // running for about six minutes, its ports held, every placement refused).
        const again = await within(
          180,
          nodesNow,
          (n) => n[other]?.status === "ready" && n[other]!.ingress && n[other]!.stale.length === 0,
        );
        expect(again[other], `${other} after it was killed and started`).toEqual({
          status: "ready",
          stale: [],
          ingress: true,
        });
      },
      { ratePerSecond: 10 },
    );
    for (const r of reports) say("restart and kill", r);
    // Both back in service: from now on neither site fails a request (what the two losses cost
    // is printed above; the package site has one instance, on the restarted holder).
    const { reports: after } = await underProbe(() => sleep(3000), { ratePerSecond: 10 });
    for (const r of after) say("after both came back", r);
    expect(failedRequestsOf(after)).toEqual(noFailures(after));
    // The kill moved elm-lang.org's allocation beside the other, and nothing moves it back.
    const check = await elmInfra(["status", "--check"]);
    expect(check.exitCode, "status --check after the kill").toBe(1);
    const named = resultOf<
      StatusResult & { degradations: Array<{ subject: string; detail: string }> }
    >(check).degradations.filter((d) => d.subject === "elm-lang.org");
    expect(named.map((d) => d.detail).join("\n")).toMatch(
      /its spread is lost: 2 allocations on 1 worker/,
    );
  });
}

export function rebootAllScenario(): void {
  it("reboot --all --allow-api-outage --upgrade-packages under the probe: every host's security upgrades (the canary 1 -> 2, Consul and Nomad untouched), then its reboot, once, one at a time; neither site fails a request (a read-only standby answers the package site while its data moves off a holder); the reboot moves elm-lang.org's allocation back (its spread lost by the kill) and status --check is clean", async () => {
    // The workers first, the package data's holder last of them (its data moves once), then
    // the manager.
    const holder = await packageDataHolder();
    const workers = [host("worker", 1), host("worker", 2)];
    const hosts = [...workers.filter((w) => w !== holder), holder, host("manager", 1)];
    expect(workers).toContain(holder);
    const before = Object.fromEntries(
      await Promise.all(hosts.map(async (h) => [h, await bootOf(h)])),
    );
    // Each host as one that a security update is waiting for: the canary at 1, from the target's
    // stand-in for Debian's security archive (bring-up made it the hosts' only such source).
    await Promise.all(hosts.map((h) => docker("exec", h, "sh", "-c", installCanary1)));
    const agents = {
      nomad: `${await pinnedVersion("nomad")}-1`,
      consul: `${await pinnedVersion("consul")}-1`,
    };
    const dry = await elmInfra(["reboot", "--all", "--dry-run"]);
    expect(dry.exitCode, "the only manager without --allow-api-outage").toBe(2);
    expect(errorOf(dry)).toMatch(/is the only manager.*APIs do not answer/);
    expect(String(dry.events.find((e) => e.type === "error")?.hint)).toContain(
      `elm-infra reboot ${hosts.filter((h) => h.includes("-worker-")).join(" ")}`,
    );

    const { value: timed, reports } = await underProbe(
      () => elmInfraTimed(["reboot", "--all", "--allow-api-outage", "--upgrade-packages", "--yes"]),
      { ratePerSecond: 10 },
    );
    const r = timed.run;
    console.log(`reboot --all's timeline:\n${timed.timeline.join("\n")}`);
    expect(r.exitCode, errorOf(r)).toBe(0);
    // Before the respread stops an allocation, the catalog is proven to reach every Traefik
    // again after the manager's reboot (a mark through each worker's agent), not only equal.
    expect(timed.timeline.join("\n")).toMatch(
      new RegExp(`${host("manager", 1)}: every worker's Traefik reads Consul's catalog again`),
    );
    const result = resultOf<RebootResult>(r);
    expect(result.outcome).toBe("rebooted");
    expect(result.rebooted.map((h) => h.host)).toEqual(hosts);
    expect(result.upgradePackages).toBe(true);
    for (const h of hosts) {
      const after = await bootOf(h);
      expect(after, `${h} booted again`).not.toBe(before[h]);
      const done = result.rebooted.find((x) => x.host === h)!;
      expect(done.after).toBe(after);
      expect(done.packages, `${h}'s security upgrades`).toEqual([
        { name: canary, from: "1", to: "2" },
      ]);
      expect(await packagesOf(h, [canary, "nomad", "consul"]), h).toEqual({
        versions: { [canary]: "2", ...agents },
        held: ["consul", "nomad"],
      });
    }
    for (const rep of reports) say("reboot --all", rep);
    const moves = result.rebooted.flatMap((h) => (h.packageDataMoved ? [h.packageDataMoved] : []));
    console.log(
      `reboot --all: package data moved ${moves.length} time(s), writes waited ${moves.map((m) => `${m.downMs} ms`).join(", ")}`,
    );
    expect(moves.length, "the holder's data moved off it before its reboot, once").toBe(1);
    // Each move's reads were answered by the read-only standby: neither site failed a request.
    expect(moves.map((m) => m.readsServed)).toEqual(moves.map(() => true));
    expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
    for (const rep of reports) expect(rep.sent, rep.hostname).toBeGreaterThan(100);

    // The rebalancing proof: the kill before left elm-lang.org on one worker, the holder's drain
    // crowded it onto the other, and the reboot moved one allocation back, under the probe.
    expect(result.respread.join("\n")).toMatch(
      /^elm-lang\.org: allocation [0-9a-f]+ moved from \S+ to \S+$/m,
    );
    const clean = await elmInfra(["status", "--check"]);
    expect(clean.exitCode, errorOf(clean)).toBe(0);
    const status = resultOf<StatusResult>(clean);
    const web = status.services.find((s) => s.service === "elm-lang.org")!;
    expect(
      new Set(web.allocations.filter((a) => a.status === "running").map((a) => a.node)).size,
    ).toBe(2);
  });
}
