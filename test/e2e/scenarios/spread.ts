/**
 * Issue 22, item 1, the spread: a service whose allocations ended up on one worker (placed while
 * the other took none, and nothing moves them back) is named by `status --check`, and bring-up
 * spreads it again, one allocation at a time, under the probe with no failed request. The same
 * bring-up meets a hostname with no A record (issue 21): it names it and waits until it exists. Leaves
 * 1 manager + 2 workers, both sites serving, elm-lang.org on both workers.
 */
import { expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import { connectToCluster } from "../../../src/cluster/connect.js";
import type { BringUpResult } from "../../../src/commands/bring-up.js";
import type { StatusResult } from "../../../src/commands/status.js";
import {
  anyVersion,
  clearRecord,
  e2e,
  elmInfra,
  elmInfraWatched,
  ensureDeployed,
  errorOf,
  failedRequestsOf,
  makeRecordWhenAsked,
  noFailures,
  resultOf,
  underProbe,
} from "../support.js";

const site = "elm-lang.org";
const wwwSite = "www.elm-lang.org";

/** The workers where elm-lang.org's allocations run now, as status reports them. */
async function workersOfSite(): Promise<string[]> {
  const status = await elmInfra(["status"]);
  expect(status.exitCode, errorOf(status)).toBe(0);
  const found = resultOf<StatusResult>(status).services.find((s) => s.service === site)!;
  return found.allocations.filter((a) => a.status === "running").map((a) => a.node);
}

export function spreadScenarios(): void {
  it("elm-lang.org's two allocations on one worker: status --check names the lost spread (exit 1); bring-up, waiting for www.elm-lang.org's missing A record until the test makes it, spreads them again under the probe, 0 failed requests, and the check is clean", async () => {
    await ensureDeployed({ [site]: anyVersion });
    const config = await loadConfig({ file: e2e.config, target: e2e.target });
    const apis = await connectToCluster(config);
    let crowded = "";
    try {
      // The other worker takes nothing for a moment (as a rebooting one): its allocation,
      // stopped, is placed beside the first one.
      const running = (await apis.nomad.jobAllocations(site)).data.filter(
        (a) => a.DesiredStatus === "run" && a.ClientStatus === "running",
      );
      expect(new Set(running.map((a) => a.NodeName)).size).toBe(2);
      crowded = running[0]!.NodeName!;
      const away = (await apis.nomad.nodes()).find(
        (n) => n.Name === running.find((a) => a.NodeName !== crowded)!.NodeName,
      )!;
      await apis.nomad.setNodeEligibility(away.ID, false);
      await apis.nomad.stopAllocation(running.find((a) => a.NodeName === away.Name)!.ID);
      for (let i = 0; i < 60; i++) {
        const nodes = await workersOfSite();
        if (nodes.length === 2 && nodes.every((n) => n === crowded)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(await workersOfSite()).toEqual([crowded, crowded]);
      await apis.nomad.setNodeEligibility(away.ID, true);
    } finally {
      await apis.close();
    }

    const check = await elmInfra(["status", "--check"]);
    expect(check.exitCode).toBe(1);
    const named = resultOf<
      StatusResult & { degradations: Array<{ subject: string; detail: string }> }
    >(check).degradations.filter((d) => d.subject === site);
    expect(named.map((d) => d.detail).join("\n")).toMatch(
      new RegExp(`its spread is lost: 2 allocations on 1 worker \\(${crowded}\\)`),
    );

    // Issue 21: one hostname's A record is gone from the target's test DNS (as a user who never
    // made it): bring-up's DNS step names it and waits; the test makes it when asked.
    await clearRecord(wwwSite);
    const {
      value: { run: up, watched: said },
      reports,
    } = await underProbe(
      () =>
        elmInfraWatched(["bring-up", "--yes"], (running) => makeRecordWhenAsked(running, wwwSite)),
      { hostnames: [site], ratePerSecond: 10 },
    );
    expect(said).toMatch(
      /DNS does not point this hostname at the load balancer \(10\.[0-9.]+\) yet:/,
    );
    expect(said).toContain(`${wwwSite}: no A record`);
    expect(said).toMatch(
      /then: bring-up makes these records with OpenTofu.*www\.elm-lang\.org\. A 10\./,
    );
    expect(up.exitCode, errorOf(up)).toBe(0);
    expect(up.events.map((e) => JSON.stringify(e)).join("\n")).toMatch(
      /DNS points .*www\.elm-lang\.org/,
    );
    expect(resultOf<BringUpResult>(up).changes.join("\n")).toMatch(/spread again: elm-lang\.org/);
    expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
    expect(new Set(await workersOfSite()).size).toBe(2);
    const clean = await elmInfra(["status", "--check"]);
    expect(clean.exitCode, errorOf(clean)).toBe(0);
  });
}
