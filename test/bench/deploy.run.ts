import { execa } from "execa";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { startCluster } from "../harness/agents.js";
import { buildAppImages, removeImages } from "../harness/apps.js";
import { createContext } from "../../src/tasks/context.js";
import { deploy } from "../../src/commands/deploy.js";
import { Output } from "../../src/output/output.js";
import { renderServiceJob } from "../../src/plan/jobs.js";
import { loadConfig } from "../../src/config/load.js";
import { toolPath } from "../harness/agents.js";
import { writeResult } from "./results.js";
import { writeClusterYaml } from "../harness/cli.js";

/**
 * Benchmark, not a test: on one agent and one job, the wall time of `elm-infra deploy` (with
 * its Traefik proofs) against `nomad job run` + `nomad deployment promote` of the same rendered
 * job, and the Nomad API requests elm-infra makes while watching. Writes
 * test/bench/results/deploy.json. Run: npm run bench
 */
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * What a script with the Nomad CLI does for a canary job that is not auto-promoted: `nomad job
 * run` would wait for a promotion forever, so run it detached, find the new deployment, promote
 * it once its canary is healthy (`promote` refuses until then), and monitor it to the end.
 * Every step and loop is bounded.
 */
async function nomadCliDeploy(nomad: string, env: NodeJS.ProcessEnv, file: string): Promise<void> {
  const cli = (args: string[], reject = true) =>
    execa(nomad, args, { env, reject, timeout: 120_000, stdin: "ignore" });
  const run = await cli(["job", "run", "-detach", file]);
  const evalId = /Evaluation ID: (\S+)/.exec(run.stdout)?.[1];
  if (!evalId) throw new Error(`nomad job run printed no evaluation ID:\n${run.stdout}`);
  let deployment = "";
  for (let i = 0; i < 120 && !deployment; i++) {
    const { stdout } = await cli(["eval", "status", "-json", evalId], false);
    deployment = (JSON.parse(stdout || "{}") as { DeploymentID?: string }).DeploymentID ?? "";
    if (!deployment) await new Promise((r) => setTimeout(r, 250));
  }
  if (!deployment) throw new Error(`evaluation ${evalId} made no deployment`);
  for (let i = 0; ; i++) {
    if ((await cli(["deployment", "promote", "-detach", deployment], false)).exitCode === 0) break;
    if (i >= 240) throw new Error(`deployment ${deployment}: the canary never became healthy`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await cli(["deployment", "status", "-monitor", deployment]);
}

it("deploy: elm-infra vs nomad job run", async () => {
  const images = await buildAppImages(
    "elm-lang.org",
    Array.from({ length: rounds * 2 + 1 }, (_, i) => ({ version: `b${i}` })),
  );
  const cluster = await startCluster();
  const dir = await mkdtemp(join(tmpdir(), "elm-infra-bench-"));
  const sink = { write: () => true };
  try {
    await writeClusterYaml(dir, "bench", {
      nomad: cluster.nomad.http,
      consul: cluster.consul.http,
      traefikApi: cluster.traefik.api,
      entrypoint: cluster.traefik.entrypoint,
      canaryEntrypoint: cluster.traefik.canaryEntrypoint,
    });
    const ctx = () =>
      createContext(
        {
          yes: true,
          dryRun: false,
          json: true,
          verbose: false,
          config: join(dir, "cluster.yaml"),
          target: "bench",
        },
        new Output("json", false, sink, sink),
        new AbortController().signal,
        false,
      );
    const env = { ...process.env, NOMAD_ADDR: cluster.nomad.http };
    const nomad = toolPath("nomad");
    await deploy(ctx(), "elm-lang.org@b0");
    const samples: Array<{
      tool: string;
      ms: number;
      requests?: number;
      byPath?: Record<string, number>;
    }> = [];
    for (let i = 0; i < rounds; i++) {
      // elm-infra
      const counts: Record<string, number> = {};
      let t = performance.now();
      await deploy(ctx(), `elm-lang.org@b${2 * i + 1}`, {
        onNomadRequest: (method, path) => {
          const key = `${method} ${path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ":id")}`;
          counts[key] = (counts[key] ?? 0) + 1;
        },
      });
      samples.push({
        tool: "elm-infra deploy",
        ms: Math.round(performance.now() - t),
        requests: Object.values(counts).reduce((a, b) => a + b, 0),
        byPath: counts,
      });
      // nomad job run of the same rendered job, then promote the canary and wait
      const config = await loadConfig({ file: join(dir, "cluster.yaml"), target: "bench" });
      const hcl = await renderServiceJob(config, {
        service: "elm-lang.org",
        version: `b${2 * i + 2}`,
      });
      await writeFile(join(dir, "job.nomad.hcl"), hcl);
      t = performance.now();
      await nomadCliDeploy(nomad, env, join(dir, "job.nomad.hcl"));
      samples.push({ tool: "nomad job run + promote", ms: Math.round(performance.now() - t) });
    }
    const summary = (tool: string) => {
      const ms = samples
        .filter((s) => s.tool === tool)
        .map((s) => s.ms)
        .sort((a, b) => a - b);
      return {
        runs: ms.length,
        medianMs: ms[Math.floor(ms.length / 2)],
        minMs: ms[0],
        maxMs: ms[ms.length - 1],
      };
    };
    const result = {
      job: "elm-lang.org, count 2, canary 1, min_healthy_time 2s",
      elmInfra: summary("elm-infra deploy"),
      nomadCli: summary("nomad job run + promote"),
      nomadRequestsPerDeploy: samples
        .filter((s) => s.requests !== undefined)
        .map((s) => ({ total: s.requests, byPath: s.byPath })),
      samples: samples.map(({ tool, ms }) => ({ tool, ms })),
    };
    await writeResult("deploy", result);
    expect(result.elmInfra.runs).toBe(rounds);
  } finally {
    await cluster.stop();
    await removeImages(images);
    await rm(dir, { recursive: true, force: true });
  }
}, 1_800_000);
