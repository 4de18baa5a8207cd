/**
 * The dev target's agents for `npm run local` (src/tools/local.sh), configured by the same code
 * as the integration tests' agents:
 *   node dist/tools/dev-agents.js config <state-dir> [cluster.yaml]
 *     writes consul.json, nomad.hcl and traefik.yml into <state-dir> and prints the HTTP ports
 *     (from cluster.yaml's targets.dev.endpoints) as NAME=port lines for the script
 *   node dist/tools/dev-agents.js wait-node <seconds> [cluster.yaml]
 *     exits 0 once Nomad has a ready node with a healthy Docker driver, 1 when none came in time
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { devAgentFiles, readyDockerNode, type DevAgentPorts } from "../cluster/dev-agents.js";
import { readClusterFile } from "../config/load.js";
import { lookUp } from "../config/lookup.js";
import { NomadClient } from "../nomad/client.js";
import { done, notYet, waitFor, WaitTimeoutError } from "../wait.js";

async function devEndpoints(clusterFile: string) {
  const endpoints = lookUp((await readClusterFile(resolve(clusterFile))).targets, "dev")?.endpoints;
  if (!endpoints) throw new Error(`${clusterFile}: targets.dev.endpoints is missing`);
  return endpoints;
}

const portOf = (url: string) => Number(new URL(url).port);

async function writeConfig(stateDir: string, clusterFile: string): Promise<void> {
  const endpoints = await devEndpoints(clusterFile);
  const ports: DevAgentPorts = {
    consul: {
      http: portOf(endpoints.consul),
      dns: 18600,
      grpc: 18502,
      serfLan: 18301,
      serfWan: 18302,
      server: 18300,
    },
    nomad: { http: portOf(endpoints.nomad), rpc: 14647, serf: 14648 },
    traefik: {
      web: portOf(endpoints.entrypoint),
      api: portOf(endpoints.traefikApi),
      canary: portOf(endpoints.canaryEntrypoint),
    },
  };
  await mkdir(stateDir, { recursive: true });
  for (const [name, text] of Object.entries(devAgentFiles(resolve(stateDir), ports)))
    await writeFile(join(stateDir, name), text);
  process.stdout.write(
    [
      `CONSUL_HTTP=${ports.consul.http}`,
      `NOMAD_HTTP=${ports.nomad.http}`,
      `TRAEFIK_WEB=${ports.traefik.web}`,
      `TRAEFIK_API=${ports.traefik.api}`,
      `TRAEFIK_CANARY=${ports.traefik.canary}`,
    ].join("\n") + "\n",
  );
}

async function waitForNode(seconds: number, clusterFile: string): Promise<boolean> {
  const nomad = new NomadClient({ address: (await devEndpoints(clusterFile)).nomad });
  return waitFor(
    { what: "a ready Nomad node", timeoutMs: seconds * 1000, intervalMs: 1000 },
    async () =>
      readyDockerNode(await nomad.nodes().catch(() => []))
        ? done(true)
        : notYet("no ready node with a healthy Docker driver"),
  ).catch((error: unknown) => {
    if (error instanceof WaitTimeoutError) return false;
    throw error;
  });
}

const [verb, arg, clusterFile = "cluster.yaml"] = process.argv.slice(2);
if (verb === "config" && arg) {
  await writeConfig(arg, clusterFile);
} else if (verb === "wait-node" && /^[0-9]{1,4}$/.test(arg ?? "")) {
  if (!(await waitForNode(Number(arg), clusterFile))) {
    process.stderr.write(`Nomad had no ready node with a healthy Docker driver within ${arg} s\n`);
    process.exitCode = 1;
  }
} else {
  process.stderr.write("usage: dev-agents.js config <state-dir> | wait-node <seconds>\n");
  process.exitCode = 2;
}
