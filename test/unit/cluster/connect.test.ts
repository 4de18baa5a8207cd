// targets.<name>.hosts in cluster.yaml, and how connectToCluster picks a way in without a cluster
// (hosts that do not answer are loopback ports where nothing listens).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utils } from "ssh2";
import { describe, expect, it } from "vitest";
import { connectToCluster, sshTargetFor } from "../../../src/cluster/connect.js";
import { expandHome } from "../../../src/cluster/paths.js";
import type { LoadedConfig } from "../../../src/config/load.js";
import { parseCluster } from "../../../src/config/parse.js";
import { ConfigError, ExitCode } from "../../../src/errors.js";
import { SshConnectError } from "../../../src/ssh/index.js";

/** A loopback port where nothing listens: bound, then closed. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function clusterWithHosts(hosts: unknown) {
  return {
    targets: {
      remote: {
        provider: "digitalocean",
        region: "fra1",
        image: "debian-12-x64",
        sizes: { manager: "s-1vcpu-2gb", worker: "s-2vcpu-4gb" },
        managers: 1,
        workers: 1,
        registry: "registry.digitalocean.com/elm",
        ssh: { privateKey: "~/.ssh/id_ed25519" },
        ...(hosts === undefined ? {} : { hosts }),
      },
    },
    services: {
      "elm-lang.org": {
        job: "jobs/elm-lang.org.nomad.hbs",
        image: "elm-lang.org",
        hostnames: ["elm-lang.org"],
        healthPath: "/health",
        port: 8080,
        count: 1,
        resources: { cpu: 200, memory: 128 },
      },
    },
  };
}

function problemsOf(hosts: unknown): string[] {
  try {
    parseCluster(clusterWithHosts(hosts), "cluster.yaml");
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

function loaded(hosts: unknown): LoadedConfig {
  const cluster = parseCluster(clusterWithHosts(hosts), "/srv/elm/cluster.yaml");
  return {
    root: "/srv/elm",
    file: "/srv/elm/cluster.yaml",
    cluster,
    targetName: "remote",
    target: cluster.targets.remote!,
    secrets: {},
    services: cluster.services,
  };
}

describe("targets.<name>.hosts", () => {
  it.each([
    ["no hosts at all", undefined],
    ["IPv4 addresses", { managers: ["10.0.0.2"], workers: ["10.0.0.3", "10.0.0.4"] }],
    ["DNS names", { managers: ["manager-1.elm-lang.org", "m2"], workers: ["w1.internal"] }],
    ["no workers yet", { managers: ["172.18.0.2"], workers: [] }],
    ["edge IPv4 octets", { managers: ["255.255.255.255", "0.0.0.0"], workers: [] }],
  ])("accepts %s", (_, hosts) => {
    expect(problemsOf(hosts)).toEqual([]);
  });

  it.each([
    ["no managers", { managers: [], workers: ["10.0.0.3"] }, "hosts.managers", /at least one/],
    ["missing workers", { managers: ["10.0.0.2"] }, "hosts.workers", /./],
    ["an octet over 255", { managers: ["10.0.0.256"], workers: [] }, "hosts.managers.0", /IPv4/],
    ["three octets", { managers: ["10.0.2"], workers: [] }, "hosts.managers.0", /IPv4/],
    ["a URL", { managers: ["http://10.0.0.2"], workers: [] }, "hosts.managers.0", /DNS name/],
    ["host:port", { managers: ["10.0.0.2:22"], workers: [] }, "hosts.managers.0", /DNS name/],
    ["upper case", { managers: ["Manager.example"], workers: [] }, "hosts.managers.0", /DNS/],
    ["a shell word", { managers: ["m1;reboot"], workers: [] }, "hosts.managers.0", /DNS/],
    ["an empty name", { managers: ["10.0.0.2"], workers: [""] }, "hosts.workers.0", /DNS/],
    [
      "an unknown key",
      { managers: ["10.0.0.2"], workers: [], bastion: "x" },
      "hosts.bastion",
      /unknown/,
    ],
  ])("refuses %s", (_, hosts, path, message) => {
    const problems = problemsOf(hosts);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^targets\\.remote\\.${path.replace(/\./g, "\\.")}: `));
    expect(problems[0]).toMatch(message);
  });
});

describe("connectToCluster without a cluster", () => {
  it("without hosts or endpoints, asks for targets.<name>.hosts (exit 2)", async () => {
    const attempt = connectToCluster(loaded(undefined));
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toMatchObject({
      exitCode: ExitCode.Usage,
      problems: [{ file: "/srv/elm/cluster.yaml", path: "targets.remote" }],
      hint: expect.stringMatching(/targets\.remote\.hosts.*bring-up/),
    });
  });

  it("without a worker, says Traefik is reached on one", async () => {
    const attempt = connectToCluster(loaded({ managers: ["10.0.0.2"], workers: [] }));
    await expect(attempt).rejects.toMatchObject({
      exitCode: ExitCode.Usage,
      problems: [
        { path: "targets.remote.hosts.workers", message: expect.stringMatching(/Traefik/) },
      ],
    });
  });

  it("resolves the key and known_hosts against cluster.yaml's folder and ~", () => {
    const config = loaded({ managers: ["10.0.0.2"], workers: ["10.0.0.3"] });
    expect(sshTargetFor(config, "10.0.0.2")).toEqual({
      host: "10.0.0.2",
      port: 22,
      username: "root",
      privateKeyPath: expandHome("~/.ssh/id_ed25519"),
      knownHostsPath: "/srv/elm/.elm-infra/known_hosts",
      hostKeyPolicy: "pin-on-first-contact",
    });
    expect(expandHome("~/.ssh/key", "/home/evan")).toBe("/home/evan/.ssh/key");
    expect(expandHome("~", "/home/evan")).toBe("/home/evan");
    expect(expandHome("keys/~x", "/home/evan")).toBe("keys/~x");
  });
});

describe("connectToCluster when no host answers", () => {
  it("tries every manager in order and names each that did not answer (exit 1)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-connect-"));
    try {
      const key = join(dir, "id_ed25519");
      await writeFile(key, utils.generateKeyPairSync("ed25519").private, { mode: 0o600 });
      const port = await closedPort();
      const base = loaded({ managers: ["127.0.0.1", "127.0.0.2"], workers: ["127.0.0.3"] });
      const config: LoadedConfig = {
        ...base,
        root: dir,
        target: { ...base.target, ssh: { ...base.target.ssh, privateKey: key, port } },
      };
      const error = await connectToCluster(config).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SshConnectError);
      expect((error as SshConnectError).exitCode).toBe(ExitCode.OperationFailed);
      const lines = (error as Error).message.split("\n");
      expect(lines[0]).toBe("no manager of target 'remote' answered over SSH:");
      expect(lines.slice(1).map((l) => l.replace(/: cannot connect .*$/, ""))).toEqual([
        "  remote-manager-1",
        "  remote-manager-2",
      ]);
      expect(lines[1]).toMatch(
        new RegExp(
          `^  remote-manager-1: cannot connect to 127\\.0\\.0\\.1:${port} over SSH: .*ECONNREFUSED`,
        ),
      );
      expect((error as SshConnectError).hint).toMatch(/managers are up/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
