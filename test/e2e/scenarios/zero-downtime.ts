/**
 * Issue 12's zero-downtime set on the shared cluster: each operation runs with the SDK's probe
 * sending to both sites through the load balancer for the whole of it, and not one request may
 * fail (no non-2xx, no connection error, no answer later than the probe's deadline). Here: a
 * rolling deploy of each site, a failed deploy that Nomad reverts, and a rollback of both; the
 * ingress upgrade (cluster.test.ts) and the worker drain (retire.ts) are under the same probe.
 * The rolling deploy of elm-lang.org is also where the canary route is watched (secrets.ts).
 * It starts from both sites at 1.0.0 (ensureDeployed) and leaves them so.
 */
import type { ResultPromise } from "execa";
import { afterAll, expect, it } from "vitest";
import type { DeployResult } from "../../../src/commands/deploy.js";
import type { RollbackResult } from "../../../src/commands/rollback.js";
import { formatProbeLine, type ProbeReport } from "../../../src/traefik/probe.js";
import { buildAppImages, removeImages } from "../../harness/apps.js";
import {
  bothSitesAt100,
  buildContext,
  e2e,
  elmInfra,
  elmInfraWatched,
  ensureDeployed,
  errorOf,
  failedRequestsOf,
  noFailures,
  pushToTargetRegistry,
  resultOf,
  runningVersions,
  underProbe,
  type Run,
} from "../support.js";
import { expectCanaryNotPublic, watchCanaryRoute } from "./secrets.js";

const site = "elm-lang.org";
const packages = "package.elm-lang.org";

/**
 * Runs the CLI under the probe and checks what every zero-downtime case asserts; `watch`, when
 * given, looks at the command as it runs (support.ts's elmInfraWatched).
 */
async function withoutAFailedRequest<T = undefined>(
  what: string,
  args: string[],
  watch?: (running: ResultPromise) => Promise<T>,
): Promise<{ run: Run; reports: Record<string, ProbeReport>; watched: T | undefined }> {
  const began = Date.now();
  const { value, reports } = await underProbe((): Promise<{ run: Run; watched: T | undefined }> =>
    watch
      ? elmInfraWatched(args, watch)
      : elmInfra(args).then((run) => ({ run, watched: undefined })),
  );
  e2e.timings[`zero downtime: ${what}`] = Date.now() - began;
  console.log(`${what}: ${reports.map(formatProbeLine).join("; ")}`);
  // The probe ran for the whole operation (at least a few seconds of it at 20 a second).
  for (const r of reports) expect(r.sent, r.hostname).toBeGreaterThan(60);
  expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
  return {
    run: value.run,
    reports: Object.fromEntries(reports.map((r) => [r.hostname, r])),
    watched: value.watched,
  };
}

export function zeroDowntimeScenarios(): void {
  const images: string[] = [];
  afterAll(async () => removeImages(images));

  // One deploy serves two proofs: no failed request, and (issue 12, item 3; secrets.ts) the
  // canary answers on its own entrypoint only, never to a public request with the canary header.
  it("zero downtime: a rolling deploy of elm-lang.org (1.0.0 → 1.0.1) fails no request of either site; during it, a request with the canary header through the load balancer gets the promoted version, while the canary answers on the canary entrypoint (worker loopback only) and deploy proves it there", async () => {
    await ensureDeployed(bothSitesAt100);
    const { run, reports, watched } = await withoutAFailedRequest(
      "deploy elm-lang.org@1.0.1",
      ["deploy", `${site}@1.0.1`, "--build", "--context", await buildContext(site), "--yes"],
      watchCanaryRoute,
    );
    expect(run.exitCode, errorOf(run)).toBe(0);
    expect(resultOf<DeployResult>(run)).toMatchObject({ outcome: "deployed", version: "1.0.1" });
    // Visitors saw the old version, then the new one; never anything else.
    expect(Object.keys(reports[site]!.versions).sort()).toEqual(["1.0.0", "1.0.1"]);
    expectCanaryNotPublic(watched!, "1.0.1", "1.0.0");
  });

  it("zero downtime: a rolling deploy of package.elm-lang.org (1.0.0 → 1.0.2), one instance pinned to its data, fails no request", async () => {
    const { run, reports } = await withoutAFailedRequest("deploy package.elm-lang.org@1.0.2", [
      "deploy",
      `${packages}@1.0.2`,
      "--build",
      "--context",
      await buildContext(packages),
      "--yes",
    ]);
    expect(run.exitCode, errorOf(run)).toBe(0);
    expect(resultOf<DeployResult>(run)).toMatchObject({ outcome: "deployed", version: "1.0.2" });
    expect(Object.keys(reports[packages]!.versions).sort()).toEqual(["1.0.0", "1.0.2"]);
  });

  it("zero downtime: a failed deploy (1.0.2 answers 500 on /health) is reverted; no request fails and none reaches 1.0.2", async () => {
    // A version that starts and answers, but whose health check fails: the stand-in site
    // (test/fixtures/app), pushed to the target's registry as the workers pull every version.
    images.push(...(await buildAppImages(site, [{ version: "1.0.2", fail: "health" }])));
    images.push(await pushToTargetRegistry(`${site}:1.0.2`, site, "1.0.2"));
    const { run, reports } = await withoutAFailedRequest("failed deploy elm-lang.org@1.0.2", [
      "deploy",
      `${site}@1.0.2`,
      "--yes",
    ]);
    expect(run.exitCode).toBe(1);
    expect(errorOf(run)).toMatch(/unhealthy|500/);
    expect(Object.keys(reports[site]!.versions)).toEqual(["1.0.1"]);
    expect((await runningVersions())[site]).toBe("1.0.1");
  });

  it("zero downtime: a rollback of both sites to 1.0.0 fails no request", async () => {
    const { run, reports } = await withoutAFailedRequest("rollback elm-lang.org@1.0.0", [
      "rollback",
      `${site}@1.0.0`,
      "--yes",
    ]);
    expect(run.exitCode, errorOf(run)).toBe(0);
    expect(resultOf<RollbackResult>(run)).toMatchObject({ from: "1.0.1", to: "1.0.0" });
    expect(Object.keys(reports[site]!.versions).sort()).toEqual(["1.0.0", "1.0.1"]);
    const back = await withoutAFailedRequest("rollback package.elm-lang.org@1.0.0", [
      "rollback",
      `${packages}@1.0.0`,
      "--yes",
    ]);
    expect(back.run.exitCode, errorOf(back.run)).toBe(0);
    expect(Object.keys(back.reports[packages]!.versions).sort()).toEqual(["1.0.0", "1.0.2"]);
    expect(await runningVersions()).toMatchObject({ [site]: "1.0.0", [packages]: "1.0.0" });
  });
}
