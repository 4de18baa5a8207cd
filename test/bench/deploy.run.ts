/**
 * Benchmark, not a test: deploys on the local target brought up by the real CLI (1 manager + 1
 * worker: host containers, Ansible, Nomad, Consul, Traefik; the APIs through SSH tunnels, as in
 * production). Measures, with the stand-in site (test/fixtures/app) as elm-lang.org:
 * - the wall time of `elm-infra deploy` against a script of the Nomad CLI deploying the same
 *   rendered job on the same cluster, and against the floor Nomad's own timestamps give (canary
 *   healthy + promoted allocations healthy, min_healthy_time included in each);
 * - the Nomad API requests per deploy, by path;
 * - a version whose /health answers 500: from the first failing check to the revert starting,
 *   and from Nomad marking the deployment failed to deploy's exit;
 * - validating job specs through the tunnel (Nomad's /v1/jobs/parse, as deploy does).
 * It asserts only that what it measured happened. Writes test/bench/results/deploy.json.
 * Run: npm run bench (alone: npx vitest run --project bench test/bench/deploy.run.ts)
 */
import { execa } from "execa";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { loadConfig, type LoadedConfig } from "../../src/config/load.js";
import { connectToCluster, connectToHost, tunnelUrl } from "../../src/cluster/connect.js";
import { managersOf, readInventory, type Inventory } from "../../src/cluster/inventory.js";
import { deploy } from "../../src/commands/deploy.js";
import type { NomadClient } from "../../src/nomad/client.js";
import { Output } from "../../src/output/output.js";
import { consulServiceName } from "../../src/plan/names.js";
import { renderServiceJob } from "../../src/plan/jobs.js";
import { createContext } from "../../src/tasks/context.js";
import { DockerClient } from "../../src/docker/client.js";
import { pushImage } from "../../src/tasks/registry.js";
import { toolPath } from "../harness/agents.js";
import { buildAppImages, removeImages } from "../harness/apps.js";
import { cliPath as cli } from "../harness/cli.js";
import { makeLocalTarget, removeLabelled } from "../harness/local-target.js";
import { machineAtStart, summarize, writeResult } from "./results.js";

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const target = "bench-dev";
const service = "elm-lang.org";
const update = { minHealthyTime: "2s", healthyDeadline: "30s", progressDeadline: "60s" };

/**
 * What a script with the Nomad CLI does for a canary job that is not auto-promoted: `nomad job
 * run` would wait for a promotion forever, so run it detached, find the new deployment, promote
 * it once its canary is healthy (`promote` refuses until then), and monitor it to the end.
 * Every step and loop is bounded. Returns the deployment's ID.
 */
async function nomadCliDeploy(nomad: string, env: NodeJS.ProcessEnv, file: string) {
  const run = (args: string[], reject = true) =>
    execa(nomad, args, { env, reject, timeout: 120_000, stdin: "ignore" });
  const submitted = await run(["job", "run", "-detach", file]);
  const evalId = /Evaluation ID: (\S+)/.exec(submitted.stdout)?.[1];
  if (!evalId) throw new Error(`nomad job run printed no evaluation ID:\n${submitted.stdout}`);
  let deployment = "";
  for (let i = 0; i < 120 && !deployment; i++) {
    const { stdout } = await run(["eval", "status", "-json", evalId], false);
    deployment = (JSON.parse(stdout || "{}") as { DeploymentID?: string }).DeploymentID ?? "";
    if (!deployment) await new Promise((r) => setTimeout(r, 250));
  }
  if (!deployment) throw new Error(`evaluation ${evalId} made no deployment`);
  for (let i = 0; ; i++) {
    if ((await run(["deployment", "promote", "-detach", deployment], false)).exitCode === 0) break;
    if (i >= 240) throw new Error(`deployment ${deployment}: the canary never became healthy`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await run(["deployment", "status", "-monitor", deployment]);
  return deployment;
}

/** An allocation of a deployment as /v1/deployment/allocations gives it, with its times. */
interface TimedAllocation {
  ID: string;
  CreateTime: number;
  DeploymentStatus?: { Healthy?: boolean | null; Timestamp?: string } | null;
}

/**
 * Nomad's own times for a finished deployment (epoch ms): when the canary was placed and became
 * healthy, when the promoted allocations were placed and the last became healthy. The floor is
 * what no deployer can beat: the canary's time to healthy plus the promoted allocations' time to
 * healthy (each includes min_healthy_time), with no time between promotion and placement.
 */
async function nomadTimes(nomad: NomadClient, deploymentId: string) {
  const allocs = (await nomad.deploymentAllocations(deploymentId)) as unknown as TimedAllocation[];
  // Promotion clears the allocations' own canary flag: the deployment still lists its canaries.
  const { data: deployment } = await nomad.deployment(deploymentId);
  const canaryIds = Object.values(deployment.TaskGroups).flatMap((g) => g.PlacedCanaries ?? []);
  const times = allocs.map((a) => ({
    canary: canaryIds.includes(a.ID),
    created: a.CreateTime / 1e6,
    healthy: Date.parse(a.DeploymentStatus?.Timestamp ?? "") || NaN,
  }));
  const canaries = times.filter((t) => t.canary);
  const promoted = times.filter((t) => !t.canary);
  const canaryCreated = Math.min(...canaries.map((t) => t.created));
  const canaryHealthy = Math.max(...canaries.map((t) => t.healthy));
  const promotedCreated = Math.min(...promoted.map((t) => t.created));
  const promotedHealthy = Math.max(...promoted.map((t) => t.healthy));
  const floorMs =
    canaryHealthy - canaryCreated + Math.max(...promoted.map((t) => t.healthy - t.created));
  return { canaryCreated, canaryHealthy, promotedCreated, promotedHealthy, floorMs };
}

/** Milliseconds from `start` to each of Nomad's times: where the deploy's wall time went. */
function timeline(start: number, t: Awaited<ReturnType<typeof nomadTimes>>, end: number) {
  const at = (ms: number) => Math.round(ms - start);
  return {
    canaryPlaced: at(t.canaryCreated),
    canaryHealthy: at(t.canaryHealthy),
    promotedPlaced: at(t.promotedCreated),
    allHealthy: at(t.promotedHealthy),
    exited: at(end),
  };
}

async function bringUp(work: string, config: string): Promise<number> {
  const began = Date.now();
  const up = await execa(
    "node",
    [cli, "bring-up", "--config", config, "--target", target, "--json", "--yes"],
    { cwd: work, reject: false, stdin: "ignore", timeout: 1_500_000, env: { CI: "true" } },
  );
  expect(up.exitCode, String(up.stdout).slice(-3000)).toBe(0);
  return Date.now() - began;
}

/** The JSON events deploy writes, each with the time it was written. */
function timedOutput() {
  const events: Array<{ at: number; event: { type: string; state?: string; title?: string } }> = [];
  const sink = {
    write: (chunk: string) => {
      for (const line of chunk.split("\n").filter(Boolean))
        events.push({ at: Date.now(), event: JSON.parse(line) as (typeof events)[0]["event"] });
      return true;
    },
  };
  return { events, output: new Output("json", false, sink, sink) };
}

it("deploy on the local target: elm-infra vs the Nomad CLI vs the floor, a failed canary", async () => {
  const machine = await machineAtStart();
  const versions = Array.from({ length: rounds * 2 + 1 }, (_, i) => ({ version: `b${i}` }));
  const images = await buildAppImages("bench-app", [
    ...versions,
    { version: "broken", fail: "health" },
  ]);
  const local = await makeLocalTarget(target, {
    managers: 1,
    workers: 1,
    slot: 0,
    subnetBase: 160,
    sshBase: 31_000,
    services: `  ${service}:
    job: jobs/elm-lang.org.nomad.hbs
    image: bench-app
    hostnames: [elm-lang.org]
    healthPath: /health
    port: 8080
    count: 2
    resources: { cpu: 50, memory: 64 }
    update: { minHealthyTime: ${update.minHealthyTime}, healthyDeadline: ${update.healthyDeadline}, progressDeadline: ${update.progressDeadline} }
`,
  });
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const bringUpMs = await bringUp(local.work, local.config);
    const config: LoadedConfig = await loadConfig({ file: local.config, target, env: {} });
    const inventory: Inventory = (await readInventory(config))!;
    const docker = DockerClient.local();
    for (const tag of images) await pushImage(config, docker, tag, tag, () => undefined);

    // the bench's own view of the cluster: its requests are not the deploy's
    const observer = await connectToCluster(config);
    closers.push(() => observer.close());
    const ssh = await connectToHost(config, managersOf(inventory)[0]!);
    closers.push(() => ssh.close());
    const env = {
      ...process.env,
      NOMAD_ADDR: await tunnelUrl(ssh, 4646),
      NOMAD_TOKEN: config.secrets.nomadToken ?? "",
    };
    const nomadCli = toolPath("nomad");

    const context = (output: Output) =>
      createContext(
        { yes: true, dryRun: false, json: true, verbose: false, config: local.config, target },
        output,
        new AbortController().signal,
        false,
      );
    await deploy(context(timedOutput().output), `${service}@b0`);

    type Sample = { tool: string; ms: number; floorMs: number; timeline: object };
    const samples: Sample[] = [];
    const requests: Array<{ total: number; byPath: Record<string, number> }> = [];
    for (let i = 0; i < rounds; i++) {
      const counts: Record<string, number> = {};
      let began = Date.now();
      const ours = await deploy(context(timedOutput().output), `${service}@b${2 * i + 1}`, {
        onNomadRequest: (method, path) => {
          const key = `${method} ${path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ":id")}`;
          counts[key] = (counts[key] ?? 0) + 1;
        },
      });
      let ended = Date.now();
      expect(ours.outcome).toBe("deployed");
      let t = await nomadTimes(observer.nomad, ours.deploymentId!);
      samples.push({
        tool: "elm-infra deploy",
        ms: ended - began,
        floorMs: Math.round(t.floorMs),
        timeline: timeline(began, t, ended),
      });
      requests.push({ total: Object.values(counts).reduce((a, b) => a + b, 0), byPath: counts });

      const file = join(local.work, "job.nomad.hcl");
      await writeFile(file, await renderServiceJob(config, { service, version: `b${2 * i + 2}` }));
      began = Date.now();
      const theirs = await nomadCliDeploy(nomadCli, env, file);
      ended = Date.now();
      t = await nomadTimes(observer.nomad, theirs);
      samples.push({
        tool: "nomad job run + promote + monitor",
        ms: ended - began,
        floorMs: Math.round(t.floorMs),
        timeline: timeline(began, t, ended),
      });
    }
    const summary = (tool: string) => {
      const mine = samples.filter((s) => s.tool === tool);
      return {
        wall: summarize(mine.map((s) => s.ms)),
        floor: summarize(mine.map((s) => s.floorMs)),
      };
    };

    const failed = await deployBrokenCanary(observer, context);
    const validate = await validateThroughTunnel(config, observer.nomad, 100);

    await execa(
      "node",
      [cli, "destroy", "--config", local.config, "--target", target, "--json", "--yes"],
      { cwd: local.work, reject: false, stdin: "ignore", timeout: 600_000, env: { CI: "true" } },
    );
    await writeResult("deploy", machine, {
      cluster: "local target: 1 manager + 1 worker (host containers), APIs through SSH tunnels",
      bringUpSeconds: Math.round(bringUpMs / 100) / 10,
      job: `${service} (test/fixtures/app), count 2, canary 1, update ${JSON.stringify(update)}`,
      elmInfra: summary("elm-infra deploy"),
      nomadCli: summary("nomad job run + promote + monitor"),
      note: "elm-infra deploy runs in this process (its CLI start is measured by start.run.ts); timeline: ms from the start of each deploy, from Nomad's allocation times",
      nomadRequestsPerDeploy: requests,
      failedCanary: failed,
      validateThroughTunnel: validate,
      samples,
    });
    expect(samples).toHaveLength(rounds * 2);
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await removeLabelled(target);
    await removeImages(images);
    await rm(local.work, { recursive: true, force: true });
  }
}, 1_800_000);

/**
 * Deploys a version whose /health answers 500 and watches beside it: Consul's checks of the
 * service (the first failing check of the canary) and the job's latest deployment (when Nomad
 * marks it failed), by blocking queries; the deploy's own events give when its revert began.
 */
async function deployBrokenCanary(
  observer: Awaited<ReturnType<typeof connectToCluster>>,
  context: (output: Output) => ReturnType<typeof createContext>,
) {
  const stop = new AbortController();
  const before = (await observer.nomad.latestDeployment(service)).data;
  let firstFailingCheck: number | undefined;
  let markedFailed: number | undefined;
  const watchChecks = (async () => {
    let index: number | undefined;
    for (let i = 0; i < 600 && !stop.signal.aborted && !firstFailingCheck; i++) {
      const { data, index: next } = await observer.consul.serviceChecks(
        consulServiceName(service),
        { ...(index ? { index } : {}), waitSeconds: 5, signal: stop.signal },
      );
      index = next;
      if (data.some((c) => c.Status === "critical" && /: 500\b/.test(c.Output)))
        firstFailingCheck = Date.now();
    }
  })().catch(() => undefined);
  const watchDeployment = (async () => {
    let index: number | undefined;
    for (let i = 0; i < 600 && !stop.signal.aborted && !markedFailed; i++) {
      const { data, index: next } = await observer.nomad.latestDeployment(service, {
        ...(index ? { index } : {}),
        waitSeconds: 5,
        signal: stop.signal,
      });
      index = next;
      if (data && data.ID !== before?.ID && data.Status === "failed") markedFailed = Date.now();
    }
  })().catch(() => undefined);

  const { events, output } = timedOutput();
  const began = Date.now();
  const error = await deploy(context(output), `${service}@broken`).then(
    () => undefined,
    (e: Error) => e,
  );
  const exited = Date.now();
  stop.abort();
  await Promise.all([watchChecks, watchDeployment]);
  expect(error?.message).toMatch(/reverted/);
  const revertBegan = events.find(
    (e) =>
      e.event.type === "task" &&
      e.event.state === "started" &&
      /^Fail the deployment/.test(e.event.title ?? ""),
  )?.at;
  expect(firstFailingCheck && markedFailed && revertBegan).toBeTruthy();
  const since = (ms: number | undefined) => (ms === undefined ? null : ms - began);
  return {
    version: "broken: the stand-in site with APP_FAIL=health (/health answers 500)",
    healthyDeadlineMs: 30_000,
    firstFailingCheckToRevertMs: revertBegan! - firstFailingCheck!,
    markedFailedToExitMs: exited - markedFailed!,
    timeline: {
      firstFailingCheck: since(firstFailingCheck),
      revertBegan: since(revertBegan),
      markedFailed: since(markedFailed),
      exited: since(exited),
    },
    reason: error!.message.split("\n")[0],
  };
}

/** Validates `count` rendered specs as deploy does: Nomad's /v1/jobs/parse, through the tunnel. */
async function validateThroughTunnel(config: LoadedConfig, nomad: NomadClient, count: number) {
  const specs = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      renderServiceJob(config, { service, version: `2.0.${i}` }),
    ),
  );
  const began = performance.now();
  for (const hcl of specs) expect((await nomad.parseJob(hcl)).ID).toBe(service);
  const ms = performance.now() - began;
  return {
    how: "POST /v1/jobs/parse through the SSH tunnel to the manager, one spec at a time",
    specs: count,
    totalMs: Math.round(ms),
    msPerSpec: Number((ms / count).toFixed(2)),
  };
}
