/**
 * Issue 11's probe on the shared cluster: the request probe through the load balancer sees both
 * workers' Traefik (the X-Elm-Infra-Worker header of the ingress job) and the deployed version
 * with no failed request; the spread puts elm-lang.org's two allocations on two workers; and
 * `status --check` passes on the healthy cluster. Read-only: the cluster is left as it was.
 */
import { expect, it } from "vitest";
import type { ProbeReport } from "../../../src/traefik/probe.js";
import type { StatusResult } from "../../../src/commands/status.js";
import { e2e, elmInfra, ensureDeployed, errorOf, resultOf } from "../support.js";

export function probeScenarios(): void {
  it("probe elm-lang.org for 5 s: every request answered 2xx, by both workers, version 1.0.0", async () => {
    await ensureDeployed({ "elm-lang.org": "1.0.0" });
    const r = await elmInfra(["probe", "elm-lang.org", "--seconds", "5"]);
    expect(r.exitCode, errorOf(r)).toBe(0);
    const report = resultOf<ProbeReport>(r);
    expect(report.sent).toBeGreaterThanOrEqual(50);
    expect(report).toMatchObject({ hostname: "elm-lang.org", non2xx: 0, connectionErrors: 0 });
    expect(report.ok).toBe(report.sent);
    expect(report.versions).toEqual({ "1.0.0": report.sent });
    expect(Object.keys(report.workers).sort()).toEqual([
      `${e2e.target}-worker-1`,
      `${e2e.target}-worker-2`,
    ]);
    expect(report.longestGapMs).toBeLessThan(2_000);
  });

  it("status --check exits 0 on the healthy cluster, and elm-lang.org's allocations are on 2 workers", async () => {
    const r = await elmInfra(["status", "--check"]);
    expect(r.exitCode, errorOf(r)).toBe(0);
    const data = resultOf<StatusResult>(r);
    expect(data.degradations).toEqual([]);
    const site = data.services.find((s) => s.service === "elm-lang.org")!;
    const nodes = site.allocations.filter((a) => a.status === "running").map((a) => a.node);
    expect(nodes).toHaveLength(2);
    expect(new Set(nodes).size).toBe(2);
  });
}
