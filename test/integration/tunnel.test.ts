// connectToCluster against a "VM" (host container) whose Consul, Nomad and Traefik listen on its
// loopback only: the APIs answer through SSH tunnels and the status CLI works, the ports are not
// reachable directly, a changed host key is refused, and hosts that do not answer are passed
// over: Nomad and Consul through the first manager that answers, Traefik's API and entrypoint
// through the first worker that answers (the entrypoint over TLS, verified against the target's
// trusted CA, as on every target that serves HTTPS).
import { mkdir, readFile, realpath, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectToCluster, type ClusterApis } from "../../src/cluster/connect.js";
import { writeInventory } from "../../src/cluster/inventory.js";
import { targetPaths } from "../../src/cluster/paths.js";
import { loadConfig } from "../../src/config/load.js";
import { ExitCode } from "../../src/errors.js";
import { HostKeyMismatchError } from "../../src/ssh/index.js";
import { cliPath, ensureBuilt } from "../harness/cli.js";
import { startHosts, type TestHost, type TestHostFleet } from "../harness/hosts.js";
import { sshTargetYaml } from "../harness/local-target.js";
import { freePorts } from "../harness/ports.js";

const bin = join(homedir(), ".cache/elm-infra/bin");
const targetName = "tunnelled";

let fleet: TestHostFleet;
let host: TestHost;
let clusterFile: string;
const opened: ClusterApis[] = [];

function clusterYaml(knownHosts: string, options: { hosts?: boolean } = {}): string {
  return sshTargetYaml({
    target: targetName,
    privateKey: fleet.privateKeyPath,
    knownHosts,
    ...(options.hosts === false ? {} : { hosts: { managers: [host.ip], workers: [host.ip] } }),
  });
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

/**
 * A test CA and a certificate for site.test signed by it (openssl CLI, in the fleet's folder):
 * what the worker's Traefik serves on its websecure entrypoint. Returns the CA's PEM.
 */
async function makeSiteCertificate(): Promise<{ ca: string; cert: string; key: string }> {
  const openssl = (...args: string[]) =>
    execa("openssl", args, { cwd: fleet.workDir, stdin: "ignore", timeout: 30_000 });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "test-ca.pem", "-days", "1",
    "-subj", "/CN=tunnel test CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign"); // prettier-ignore
  await openssl("req", ...ec, "-keyout", "site.key", "-out", "site.csr", "-subj", "/CN=site.test"); // prettier-ignore
  await writeFile(join(fleet.workDir, "site.ext"), "subjectAltName=DNS:site.test\n");
  await openssl("x509", "-req", "-in", "site.csr", "-CA", "test-ca.pem", "-CAkey", "ca.key",
    "-CAcreateserial", "-out", "site.pem", "-days", "1", "-extfile", "site.ext"); // prettier-ignore
  const read = (f: string) => readFile(join(fleet.workDir, f), "utf8");
  return {
    ca: await read("test-ca.pem"),
    cert: await read("site.pem"),
    key: await read("site.key"),
  };
}

/**
 * Starts Traefik in the container as the ingress job runs it on a worker: API and /ping on
 * 127.0.0.1:8081 only, the web entrypoint on 127.0.0.1:80, Consul's catalog as its provider; and
 * the websecure entrypoint on 127.0.0.1:443 serving site.test (routed to its own ping) with a
 * certificate from a test CA, also its default certificate. Returns the CA's PEM.
 */
async function startTraefik(): Promise<string> {
  await execa(
    "docker",
    ["cp", await realpath(join(bin, "traefik")), `${host.name}:/usr/local/bin/`],
    { stdin: "ignore", timeout: 120_000 },
  );
  const site = await makeSiteCertificate();
  await fleet.exec(host, ["sh", "-c", "cat > /etc/site.pem"], site.cert);
  await fleet.exec(host, ["sh", "-c", "cat > /etc/site.key"], site.key);
  const certificate = { certFile: "/etc/site.pem", keyFile: "/etc/site.key" };
  const dynamic = {
    http: {
      routers: {
        site: {
          rule: "Host(`site.test`)",
          entryPoints: ["websecure"],
          service: "ping@internal",
          tls: {},
        },
      },
    },
    tls: { certificates: [certificate], stores: { default: { defaultCertificate: certificate } } },
  };
  await fleet.exec(host, ["sh", "-c", "cat > /etc/traefik-dynamic.yml"], JSON.stringify(dynamic));
  const config = {
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    entryPoints: {
      web: { address: "127.0.0.1:80" },
      websecure: { address: "127.0.0.1:443" },
      traefik: { address: "127.0.0.1:8081" },
    },
    api: { insecure: true, dashboard: false },
    ping: { entryPoint: "traefik" },
    providers: {
      consulCatalog: { exposedByDefault: false, endpoint: { address: "127.0.0.1:8500" } },
      file: { filename: "/etc/traefik-dynamic.yml" },
    },
  };
  await fleet.exec(host, ["sh", "-c", "cat > /etc/traefik.yml"], JSON.stringify(config));
  await fleet.exec(host, [
    "systemd-run",
    "--unit=traefik-dev",
    "/usr/local/bin/traefik",
    "--configFile=/etc/traefik.yml",
  ]);
  // Bounded: 60 tries, one a second.
  await fleet.exec(host, [
    "sh",
    "-c",
    `for i in $(seq 60); do curl -sf 127.0.0.1:8081/ping >/dev/null && exit 0; sleep 1; done
     journalctl -u traefik-dev --no-pager | tail -20 >&2; exit 1`,
  ]);
  return site.ca;
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
  const build = ensureBuilt();
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

  it("status --json through the tunnel lists the services as not deployed, and says Traefik is out of reach (not 'absent')", async () => {
    const r = await execa(
      "node",
      [cliPath, "status", "--config", clusterFile, "--target", targetName, "--json"],
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
            traefik: {
              routerStatus: null,
              servers: {},
              error: `Traefik's API closed the connection without answering at 127.0.0.1:8081 on ${targetName}-worker-1 (through SSH)`,
            },
          },
        ],
        // A target that serves HTTPS lists its certificates; the issuer has stored none here.
        certificates: [
          { variable: "certs/elm-lang-org", service: "elm-lang.org", wanted: ["elm-lang.org"] },
        ],
      },
    });
    expect(events).toContainEqual({
      type: "log",
      level: "warn",
      message: expect.stringMatching(
        /^Traefik could not be asked: Traefik's API .* on tunnelled-worker-1/,
      ),
    });
  });

  it("passes over hosts that do not answer: Nomad and Consul through the first manager that does, Traefik through the first worker that does", async () => {
    const ca = await startTraefik();
    // manager-1 and worker-1 are down (nothing listens on their SSH ports); the container is
    // manager-2 and worker-2, each reached on its own SSH port as bring-up records it.
    const [deadManager, deadWorker] = (await freePorts(2)) as [number, number];
    const file = join(fleet.workDir, "cluster-inventory.yaml");
    await writeFile(file, clusterYaml(join(fleet.workDir, "known_hosts"), { hosts: false }));
    const config = await loadConfig({ file, target: targetName, env: {} });
    // The target trusts the test CA, as the local target trusts Pebble's root.
    await mkdir(dirname(targetPaths(config).trustedCa), { recursive: true });
    await writeFile(targetPaths(config).trustedCa, ca);
    const at = (name: string, role: "manager" | "worker", sshHost: string, port: number) => ({
      name,
      role,
      privateAddress: host.ip,
      ssh: { host: sshHost, port },
    });
    await writeInventory(config, {
      target: targetName,
      hosts: [
        at(`${targetName}-manager-1`, "manager", "127.0.0.1", deadManager),
        at(`${targetName}-manager-2`, "manager", host.ip, 22),
        at(`${targetName}-worker-1`, "worker", "127.0.0.1", deadWorker),
        at(`${targetName}-worker-2`, "worker", host.ip, 22),
      ],
    });
    const apis = await connectToCluster(config);
    opened.push(apis);
    expect(await apis.nomad.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await apis.consul.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    // Traefik's API on the worker's loopback: its own internal routers, and no service of ours.
    const routers = await apis.traefik.routers();
    expect(routers.map((r) => r.name)).toContain("ping@internal");
    expect(await apis.traefik.router("elm-lang-org")).toBeUndefined();
    expect(apis.traefik.apiAddress).toBe(`127.0.0.1:8081 on ${targetName}-worker-2 (through SSH)`);
    // The public entrypoint is the worker's websecure one (443) over TLS, the Host as SNI, its
    // certificate verified against the target's trusted CA; one for another name is refused.
    const probe = await apis.traefik.probe("site.test", "/ping");
    expect(probe).toMatchObject({ status: 200, body: "OK" });
    const refused = await apis.traefik.probe("no-route.example", "/").catch((e: Error) => e);
    expect((refused as Error).message).toBe(
      `Traefik's entrypoint at 127.0.0.1:443 on ${targetName}-worker-2 (through SSH) presented a certificate for no-route.example that does not verify: not for this name (it is for DNS:site.test)`,
    );
    // No port is reachable from outside the worker.
    expect(await tryConnect(host.ip, 8081)).toBe("ECONNREFUSED");
    expect(await tryConnect(host.ip, 80)).toBe("ECONNREFUSED");
    expect(await tryConnect(host.ip, 443)).toBe("ECONNREFUSED");
    await apis.close();
  });

  it("says which hosts did not answer when no worker does", async () => {
    const [deadWorker] = (await freePorts(1)) as [number];
    const file = join(fleet.workDir, "cluster-inventory.yaml");
    const config = await loadConfig({ file, target: targetName, env: {} });
    await writeInventory(config, {
      target: targetName,
      hosts: [
        {
          name: `${targetName}-manager-1`,
          role: "manager",
          privateAddress: host.ip,
          ssh: { host: host.ip, port: 22 },
        },
        {
          name: `${targetName}-worker-1`,
          role: "worker",
          privateAddress: host.ip,
          ssh: { host: "127.0.0.1", port: deadWorker },
        },
      ],
    });
    const attempt = connectToCluster(config);
    await expect(attempt).rejects.toMatchObject({
      exitCode: ExitCode.OperationFailed,
      message: expect.stringMatching(
        new RegExp(
          `^no worker of target '${targetName}' answered over SSH:\n  ${targetName}-worker-1: cannot connect to 127\\.0\\.0\\.1:${deadWorker} over SSH: .*ECONNREFUSED`,
        ),
      ),
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
