// connectToCluster against a "VM" (host container) whose Consul and Nomad listen on its loopback
// only: the APIs answer through the SSH tunnel and the status CLI works, the ports are not
// reachable directly, and a changed host key is refused.
import { realpath, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectToCluster, type ClusterApis } from "../../src/cluster/connect.js";
import { loadConfig } from "../../src/config/load.js";
import { ExitCode } from "../../src/errors.js";
import { HostKeyMismatchError } from "../../src/ssh/index.js";
import { startHosts, type TestHost, type TestHostFleet } from "../harness/hosts.js";

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const bin = join(homedir(), ".cache/elm-infra/bin");
const targetName = "tunnelled";

let fleet: TestHostFleet;
let host: TestHost;
let clusterFile: string;
const opened: ClusterApis[] = [];

function clusterYaml(knownHosts: string): string {
  return `targets:
  ${targetName}:
    provider: local
    region: local
    image: elm-infra/host:latest
    sizes: { manager: local, worker: local }
    managers: 1
    workers: 1
    registry: local
    ssh:
      privateKey: ${JSON.stringify(fleet.privateKeyPath)}
      knownHosts: ${JSON.stringify(knownHosts)}
    hosts:
      managers: [${JSON.stringify(host.ip)}]
      workers: [${JSON.stringify(host.ip)}]
services:
  elm-lang.org:
    job: jobs/elm-lang.org.nomad.hbs
    image: elm-lang.org
    hostnames: [elm-lang.org]
    healthPath: /health
    port: 8080
    count: 1
    resources: { cpu: 100, memory: 64 }
`;
}

/** Starts a dev Consul and Nomad in the container as systemd units, on its 127.0.0.1 only. */
async function startAgents(): Promise<void> {
  for (const tool of ["consul", "nomad"]) {
    await execa("docker", ["cp", await realpath(join(bin, tool)), `${host.name}:/usr/local/bin/`], {
      stdin: "ignore",
      timeout: 120_000,
    });
  }
  await fleet.exec(host, [
    "systemd-run",
    "--unit=consul-dev",
    "/usr/local/bin/consul",
    "agent",
    "-dev",
    "-client",
    "127.0.0.1",
  ]);
  await fleet.exec(host, [
    "systemd-run",
    "--unit=nomad-dev",
    "/usr/local/bin/nomad",
    "agent",
    "-dev",
    "-bind",
    "127.0.0.1",
    "-consul-address=127.0.0.1:8500",
  ]);
  // Bounded: 120 tries, one a second.
  await fleet.exec(host, [
    "sh",
    "-c",
    `for i in $(seq 120); do
       n=$(curl -s 127.0.0.1:4646/v1/status/leader); c=$(curl -s 127.0.0.1:8500/v1/status/leader)
       case "$n$c" in *:*:*) exit 0;; esac; sleep 1
     done; echo "nomad: $n consul: $c" >&2; exit 1`,
  ]);
}

/** What a TCP connect from this machine to ip:port gets: "connected", or the error's code. */
function tryConnect(ip: string, port: number): Promise<string> {
  return new Promise((done) => {
    const socket = connect({ host: ip, port });
    const finish = (what: string) => {
      socket.destroy();
      done(what);
    };
    socket.setTimeout(5_000, () => finish("timeout"));
    socket.once("connect", () => finish("connected"));
    socket.once("error", (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  });
}

beforeAll(async () => {
  const build = execa("npx", ["tsc", "-p", "tsconfig.build.json"], {
    cwd: repo,
    stdin: "ignore",
    timeout: 300_000,
  });
  fleet = await startHosts({ count: 1 });
  host = fleet.hosts[0]!;
  await startAgents();
  clusterFile = join(fleet.workDir, "cluster.yaml");
  await writeFile(clusterFile, clusterYaml(join(fleet.workDir, "known_hosts")));
  await build;
});

afterAll(async () => {
  await Promise.all(opened.map((apis) => apis.close()));
  await fleet?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async () => {
    process.stderr.write(`${await fleet.collectLogs()}\n`);
  });
});

describe("the cluster's APIs through an SSH tunnel to a manager", () => {
  it("answers Nomad and Consul through the tunnel, not directly", async () => {
    const config = await loadConfig({ file: clusterFile, target: targetName, env: {} });
    const requests: string[] = [];
    const apis = await connectToCluster(config, {
      onNomadRequest: (method, path) => requests.push(`${method} ${path}`),
    });
    opened.push(apis);
    expect(await apis.nomad.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await apis.consul.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(requests).toEqual(["GET /v1/status/leader"]);
    expect(new URL(apis.nomad.address).hostname).toBe("127.0.0.1");

    expect(await tryConnect(host.ip, 4646)).toBe("ECONNREFUSED");
    expect(await tryConnect(host.ip, 8500)).toBe("ECONNREFUSED");

    await apis.close();
    await expect(apis.nomad.leader()).rejects.toThrow();
  });

  it("status --json through the tunnel lists the services as not deployed (Traefik is down)", async () => {
    const r = await execa(
      "node",
      [
        join(repo, "dist/cli/main.js"),
        "status",
        "--config",
        clusterFile,
        "--target",
        targetName,
        "--json",
      ],
      { cwd: fleet.workDir, reject: false, stdin: "ignore", timeout: 120_000, env: {} },
    );
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const events = r.stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { type: string; command?: string; data?: unknown });
    const result = events.find((e) => e.type === "result");
    expect(result).toMatchObject({
      command: "status",
      data: {
        target: targetName,
        services: [
          {
            service: "elm-lang.org",
            deployed: false,
            allocations: [],
            traefik: { routerStatus: null, servers: {} },
          },
        ],
      },
    });
  });

  it("refuses a manager whose host key is not the pinned one (exit 3)", async () => {
    const knownHosts = join(fleet.workDir, "known_hosts.wrong");
    // The user's key stands in for a host key the server does not have.
    const [type, blob] = fleet.publicKey.split(" ");
    await writeFile(knownHosts, `${host.ip} ${type} ${blob}\n`);
    const wrongFile = join(fleet.workDir, "cluster-wrong.yaml");
    await writeFile(wrongFile, clusterYaml(knownHosts));
    const config = await loadConfig({ file: wrongFile, target: targetName, env: {} });
    const attempt = connectToCluster(config);
    await expect(attempt).rejects.toBeInstanceOf(HostKeyMismatchError);
    await expect(attempt).rejects.toMatchObject({ exitCode: ExitCode.Refused });
  });
});
