/**
 * Benchmark, not a test: rendering and validating 1,000 job specs. Render is what `elm-infra
 * render` and deploy do here (read the template, fill it in); validate is what deploy does next
 * (Nomad's POST /v1/jobs/parse, the HCL parse and canonicalisation: elm-infra has no HCL parser of
 * its own), against a real Nomad dev agent on loopback. "compile every time" renders as the code
 * did before the compiled template was cached, for comparison. Writes
 * test/bench/results/render.json. Run: npm run bench
 */
import Handlebars from "handlebars";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { expect, it } from "vitest";
import { parseCluster, parseYaml } from "../../src/config/parse.js";
import { NomadClient } from "../../src/nomad/client.js";
import { renderServiceJob } from "../../src/plan/jobs.js";
import { serviceJobVars } from "../../src/plan/job-vars.js";
import { startConsul, startNomad } from "../harness/agents.js";
import { machineAtStart, writeResult } from "./results.js";

const repo = resolve(import.meta.dirname, "../..");
const specs = Number(process.env.BENCH_SPECS ?? 1000);

it(`render and validate ${specs} job specs`, async () => {
  const machine = await machineAtStart();
  const cluster = parseCluster(
    parseYaml(await readFile(resolve(repo, "cluster.yaml"), "utf8"), "cluster.yaml"),
    "cluster.yaml",
  );
  const config = { root: repo, target: cluster.targets.production!, services: cluster.services };
  const services = ["elm-lang.org", "package.elm-lang.org"];
  const refs = Array.from({ length: specs }, (_, i) => ({
    service: services[i % 2]!,
    version: `1.${Math.floor(i / 100)}.${i % 100}`,
  }));

  // as before the cache: the template read and compiled for every spec
  let began = performance.now();
  for (const ref of refs) {
    const template = await readFile(resolve(repo, cluster.services[ref.service]!.job), "utf8");
    Handlebars.create().compile(template, {
      strict: true,
      noEscape: true,
      knownHelpersOnly: true,
    })(serviceJobVars(config, ref));
  }
  const uncachedMs = performance.now() - began;

  began = performance.now();
  const rendered: string[] = [];
  for (const ref of refs) rendered.push(await renderServiceJob(config, ref));
  const renderMs = performance.now() - began;

  const consul = await startConsul();
  const nomadAgent = await startNomad({ consul });
  try {
    const nomad = new NomadClient({ address: nomadAgent.http });
    began = performance.now();
    const ids = new Set<string>();
    for (const hcl of rendered) ids.add((await nomad.parseJob(hcl)).ID);
    const validateMs = performance.now() - began;
    expect([...ids].sort()).toEqual(services);

    const perSpec = (ms: number) => Number((ms / specs).toFixed(3));
    await writeResult("render", machine, {
      specs,
      templates: services.map((s) => cluster.services[s]!.job),
      compileEveryTime: { totalMs: Math.round(uncachedMs), msPerSpec: perSpec(uncachedMs) },
      render: { totalMs: Math.round(renderMs), msPerSpec: perSpec(renderMs) },
      validate: {
        how: "POST /v1/jobs/parse to a Nomad dev agent on loopback, one spec at a time",
        totalMs: Math.round(validateMs),
        msPerSpec: perSpec(validateMs),
      },
      renderAndValidate: {
        totalMs: Math.round(renderMs + validateMs),
        msPerSpec: perSpec(renderMs + validateMs),
      },
    });
  } finally {
    await nomadAgent.stop();
    await consul.stop();
  }
}, 600_000);
