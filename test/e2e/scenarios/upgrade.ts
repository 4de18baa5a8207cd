/**
 * Issue 22, item 3: `upgrade` across a real version change (Traefik 3.6.12 -> the version
 * versions.json caches beside it, built like the pinned one) and a rolling restart of Nomad and
 * Consul (their pinned versions unchanged), under the probe on both sites: elm-lang.org fails no
 * request, every agent restarted once (new pids), each at its version afterwards, the servers
 * first, and status --check is clean. The package site's downtime (its data moved off each
 * worker in turn) is printed. Leaves 1 manager + 2 workers, Traefik at the new version.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import type { UpgradeResult } from "../../../src/commands/upgrade.js";
import { pinnedVersion } from "../../../src/plan/jobs.js";
import { failedRequests } from "../../../src/traefik/probe.js";
import {
  agentPids,
  anyVersion,
  repo,
  e2e,
  elmInfra,
  elmInfraTimed,
  ensureDeployed,
  errorOf,
  failedRequestsOf,
  issuerLogs,
  noFailures,
  packageDataHolder,
  resultOf,
  underProbe,
} from "../support.js";

const host = (role: "manager" | "worker", n: number) => `${e2e.target}-${role}-${n}`;

export function upgradeScenarios(): void {
  it("upgrade to the next Traefik with a rolling restart of Nomad and Consul, under the probe: neither site fails a request (the package site's reads answered by its standby while its data moves), every agent restarted once (servers first), each at its version, status --check clean", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion, "package.elm-lang.org": anyVersion });
    const versions = JSON.parse(await readFile(join(repo, "src/tools/versions.json"), "utf8")) as {
      traefik: { alsoCached?: string[] };
    };
    const next = versions.traefik.alsoCached?.[0];
    expect(next, "versions.json caches a second Traefik version").toBeTruthy();
    const pids = await agentPids();

    const dry = await elmInfra(["upgrade", "--traefik", next!, "--allow-api-outage", "--dry-run"]);
    expect(dry.exitCode, errorOf(dry)).toBe(0);
    const planned = resultOf<UpgradeResult>(dry);
    expect(planned.outcome).toBe("planned");
    // The servers first, then the workers, the package data's holder last (its data moves once).
    const holder = await packageDataHolder();
    const workers = [host("worker", 1), host("worker", 2)];
    expect(workers).toContain(holder);
    expect(planned.plan.order.map((s) => s.host)).toEqual([
      host("manager", 1),
      ...workers.filter((w) => w !== holder),
      holder,
    ]);

    const { value: timed, reports } = await underProbe(
      () => elmInfraTimed(["upgrade", "--traefik", next!, "--allow-api-outage", "--yes"]),
      { ratePerSecond: 10 },
    );
    const r = timed.run;
    console.log(`upgrade's timeline:\n${timed.timeline.join("\n")}`);
    for (const rep of reports)
      console.log(
        `upgrade: ${rep.hostname}: sent ${rep.sent}, failed ${failedRequests(rep)}, longest gap ${rep.longestGapMs} ms`,
      );
    expect(r.exitCode, errorOf(r)).toBe(0);
    // The workers' drains wait until the catalog reaches every Traefik again after the
    // manager's restart (a mark through each worker's agent).
    expect(timed.timeline.join("\n")).toMatch(
      new RegExp(`${host("manager", 1)}: every worker's Traefik reads Consul's catalog again`),
    );
    const result = resultOf<UpgradeResult>(r);
    expect(result.outcome).toBe("upgraded");
    expect(result.cycled.map((h) => h.host)).toEqual(planned.plan.order.map((s) => s.host));
    expect(result.versions.before.traefik).not.toBe(next);
    expect(result.versions.after).toEqual({
      nomad: await pinnedVersion("nomad"),
      consul: await pinnedVersion("consul"),
      traefik: next,
    });
    expect(result.ingress.join("\n")).toMatch(new RegExp(`→ ${next!.replaceAll(".", "\\.")}`));
    // Each worker came back into the ingress at the new version (its Traefik restarted once).
    for (const cycled of result.cycled.filter((h) => h.role === "worker"))
      expect(cycled.steps.join("\n"), cycled.host).toContain(`${cycled.host}: added at ${next}`);
    // Every agent of every host runs anew.
    const now = await agentPids();
    for (const [name, before] of Object.entries(pids)) {
      // systemctl prints a blank line between units.
      const [consulBefore, nomadBefore] = before.split("\n").filter((l) => l.trim());
      const [consulNow, nomadNow] = now[name]!.split("\n").filter((l) => l.trim());
      expect(nomadBefore, `${name}'s Nomad pid`).toMatch(/^\d+$/);
      expect(consulNow, `${name}'s Consul restarted`).not.toBe(consulBefore);
      expect(nomadNow, `${name}'s Nomad restarted`).not.toBe(nomadBefore);
    }
    // The holder's drain moved the package data: its reads were answered by the standby.
    expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
    for (const rep of reports) expect(rep.sent, rep.hostname).toBeGreaterThan(100);

    const clean = await elmInfra(["status", "--check"]);
    if (clean.exitCode !== 0) console.log(`the issuer's log:\n${await issuerLogs()}`);
    expect(clean.exitCode, errorOf(clean)).toBe(0);
  });
}
