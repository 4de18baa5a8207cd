// playbooks/site.yml against one manager and one worker host container (systemd, sshd, nested
// Docker), over real SSH, with real Consul and Nomad installed by apt, held at their pinned versions,
// from the signed stand-in for HashiCorp's repository (src/tools/agents-apt.sh): ACLs, gossip
// encryption, the host firewall with Docker's published ports, Docker's live-restore (containers
// survive dockerd's restarts; Nomad 1.10 still restarts its tasks), and a second run that changes
// nothing and restarts no agent, nor one where the managers changed; the SSH user's
// authorized_keys exactly the target's key and the operators' (one taken off loses access).
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AnsibleRunError,
  FAST_HEALTH,
  runSitePlaybook,
  type AnsibleEvent,
  type AnsibleRunResult,
  type SiteHost,
  type SiteSecrets,
  type SiteSettings,
} from "../../src/ansible/index.js";
import { makeKeyPair } from "../../src/ssh/keys.js";
import { waitFor } from "../harness/agents.js";
import { startHosts, type TestHost, type TestHostFleet } from "../harness/hosts.js";
import { randomSiteSecrets } from "../harness/site.js";

const versions = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../src/tools/versions.json", import.meta.url)), "utf8"),
) as Record<string, { version: string }>;

const secrets: SiteSecrets = randomSiteSecrets();

let fleet: TestHostFleet;
let manager: TestHost;
let worker: TestHost;
let hosts: SiteHost[];
let settings: SiteSettings;
let interrupted: unknown;
const interruptedEvents: AnsibleEvent[] = [];
let resumed: AnsibleRunResult;
const resumedEvents: AnsibleEvent[] = [];
const bootstrapTask = "nomad : Bootstrap Nomad's ACLs with the management token";
/** dockerd's live-restore on the worker, and a container's process, before the first run. */
let liveRestoreAtStart: string;
let beforeSite: string;
/** An operator's key, authorised by the first runs; its private half in a folder of its own. */
const operator = makeKeyPair("elm-infra operator ada");
let operatorDir: string;
let targetKey: string;

function runSite(
  onEvent?: (e: AnsibleEvent) => void,
  signal?: AbortSignal,
  inventory: { hosts: SiteHost[]; limit?: string } = { hosts },
): Promise<AnsibleRunResult> {
  return runSitePlaybook({
    hosts: inventory.hosts,
    ...(inventory.limit ? { limit: inventory.limit } : {}),
    settings,
    secrets,
    privateKeyPath: fleet.privateKeyPath,
    knownHostsPath: fleet.knownHostsPath,
    hostKeyChecking: "accept-new",
    timeoutMs: 300_000,
    ...(onEvent ? { onEvent } : {}),
    ...(signal ? { signal } : {}),
  });
}

/** An HTTP request made on the host itself (the APIs answer on its loopback only). */
async function curl(
  host: TestHost,
  path: string,
  options: {
    token?: "consul" | "nomad" | "traefik";
    method?: string;
    port?: number;
    body?: string;
  } = {},
): Promise<{ status: number; body: string }> {
  const port = options.port ?? (options.token === "nomad" ? 4646 : 8500);
  const header = {
    consul: `X-Consul-Token: ${secrets.consulManagementToken}`,
    traefik: `X-Consul-Token: ${secrets.consulTraefikToken}`,
    nomad: `X-Nomad-Token: ${secrets.nomadManagementToken}`,
  };
  const argv = ["curl", "-s", "-m", "5", "-w", "\n%{http_code}", "-X", options.method ?? "GET"];
  if (options.token) argv.push("-H", header[options.token]);
  if (options.body !== undefined) argv.push("-d", options.body);
  argv.push(`http://127.0.0.1:${port}${path}`);
  const out = await fleet.exec(host, argv);
  const cut = out.lastIndexOf("\n");
  return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

/** A container's process and start time: unchanged when it kept running. */
async function containerProcess(host: TestHost, name: string): Promise<string> {
  return fleet.exec(host, ["docker", "inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", name]);
}

async function agentPids(host: TestHost): Promise<string> {
  return fleet.exec(host, ["systemctl", "show", "-p", "MainPID", "consul", "nomad", "docker"]);
}

/** Whether OpenSSH logs in to the host as root with this private key (host key pinned). */
async function logsIn(host: TestHost, privateKeyPath: string): Promise<boolean> {
  // An answer about the key (accepted, or "Permission denied") is the verdict; a connection that
  // fails before that (refused, reset: sshd restarting) says nothing about the key and is tried
  // again, at most 3 times a second apart (seen once in CI: a first login failed in under 0.6 s).
  let said = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const result = await execa(
      "ssh",
      [
        ...["-i", privateKeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
        ...["-o", `UserKnownHostsFile=${fleet.knownHostsPath}`, "-o", "StrictHostKeyChecking=yes"],
        ...["-o", "ConnectTimeout=5", `root@${host.ip}`, "true"],
      ],
      { reject: false, stdin: "ignore", timeout: 15_000 },
    );
    if (result.exitCode === 0) return true;
    said = String(result.stderr);
    if (/Permission denied/.test(said)) return false;
    if (attempt < 3) await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`ssh to ${host.name} failed 3 times before any answer about the key: ${said}`);
}

/** Whether a TCP connection from this machine to ip:port is accepted within 2 s. */
function canConnect(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

beforeAll(async () => {
  fleet = await startHosts({ count: 2, agentRepository: true });
  [manager, worker] = fleet.hosts as [TestHost, TestHost];
  hosts = [
    {
      name: manager.name,
      role: "manager",
      privateIp: manager.ip,
      sshHost: manager.ip,
      sshPort: 22,
    },
    { name: worker.name, role: "worker", privateIp: worker.ip, sshHost: worker.ip, sshPort: 22 },
  ];
  operatorDir = await mkdtemp(join(tmpdir(), "elm-infra-operator-"));
  await writeFile(join(operatorDir, "id_ed25519"), operator.private, { mode: 0o600 });
  targetKey = (await readFile(`${fleet.privateKeyPath}.pub`, "utf8")).trim();
  settings = {
    target: "test",
    softwareSource: "local",
    agentRepository: { url: fleet.aptUrl!, keyUrl: `${fleet.aptUrl!}/gpg` },
    consulVersion: versions.consul!.version,
    nomadVersion: versions.nomad!.version,
    health: FAST_HEALTH,
    authorizedKeys: [targetKey, operator.public],
  };
  // A container already running when the first run configures Docker: turning live-restore on
  // must not stop it. The nested engine cannot pull: the image comes from this machine's engine.
  await waitFor(
    "the worker's Docker engine",
    () =>
      fleet.exec(worker, ["docker", "info"]).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  await execa("sh", [
    "-c",
    `docker save elm-infra/tiny:latest | docker exec -i ${worker.name} docker load`,
  ]);
  liveRestoreAtStart = await fleet.exec(worker, [
    "docker",
    "info",
    "-f",
    "{{.LiveRestoreEnabled}}",
  ]);
  await fleet.exec(worker, [
    "docker",
    "run",
    "-d",
    "--name",
    "before-site",
    "elm-infra/tiny:latest",
    "sleep",
    "3600",
  ]);
  beforeSite = await containerProcess(worker, "before-site");
  // The first run is killed as Nomad's ACL bootstrap begins; the second must finish the job.
  const abort = new AbortController();
  interrupted = await runSite((e) => {
    interruptedEvents.push(e);
    if (e.kind === "task" && e.name === bootstrapTask) abort.abort();
  }, abort.signal).catch((error: unknown) => error);
  resumed = await runSite((e) => resumedEvents.push(e));
});

afterAll(async () => {
  await fleet?.stop();
  if (operatorDir) await rm(operatorDir, { recursive: true, force: true });
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async () => {
    process.stderr.write(`${await fleet.collectLogs()}\n`);
  });
});

describe("site.yml on one manager and one worker", () => {
  it("finishes, when run again, a run killed as Nomad's ACL bootstrap began", () => {
    expect(interrupted).toBeInstanceOf(AnsibleRunError);
    expect((interrupted as AnsibleRunError).message).toMatch(/was cancelled/);
    expect(interruptedEvents).toContainEqual(
      expect.objectContaining({ kind: "task", name: bootstrapTask }),
    );
    // Killed before the end: no recap.
    expect(interruptedEvents.some((e) => e.kind === "recap")).toBe(false);
    expect(interruptedEvents.some((e) => e.kind === "result" && e.status === "changed")).toBe(true);
    for (const host of fleet.hosts) expect(resumed.recap[host.name]).toMatchObject({ failed: 0 });
    const roles = new Set(
      resumedEvents.flatMap((e) => (e.kind === "task" && e.role ? [e.role] : [])),
    );
    // package_data is named too: with no volume attached yet (none here) its tasks are skipped.
    expect([...roles].sort()).toEqual(["base", "consul", "docker", "nomad", "package_data"]);
  });

  it("installs Consul and Nomad from the signed apt repository, held at the pinned versions", async () => {
    const changed = (task: string) =>
      resumedEvents
        .concat(interruptedEvents)
        .filter((e) => e.kind === "result" && e.status === "changed" && e.task === task)
        .map((e) => (e.kind === "result" ? e.host : ""))
        .sort();
    const both = fleet.hosts.map((h) => h.name).sort();
    expect(changed("nomad : Install Nomad from HashiCorp's apt repository")).toEqual(both);
    expect(changed("consul : Install Consul from HashiCorp's apt repository")).toEqual(both);
    expect(changed("base : Add HashiCorp's apt repository")).toEqual(both);
    for (const host of fleet.hosts) {
      for (const [name, version] of [
        ["nomad", versions.nomad!.version],
        ["consul", versions.consul!.version],
      ] as const) {
        const status = await fleet.exec(host, [
          "dpkg-query",
          "--show",
          "--showformat=${Package} ${Version} ${Status}",
          name,
        ]);
        expect(status, `${host.name} ${name}`).toBe(`${name} ${version}-1 hold ok installed`);
        const reported = await fleet.exec(host, [`/usr/bin/${name}`, "version"]);
        expect(reported).toContain(`v${version}`);
      }
      // apt trusts the repository's key, and nothing else: the image has no Debian sources.
      const sources = await fleet.exec(host, ["sh", "-c", "cat /etc/apt/sources.list.d/*"]);
      expect(sources.trim()).toBe(
        `deb [signed-by=/usr/share/keyrings/hashicorp-archive-keyring.asc] ${fleet.aptUrl} bookworm main`,
      );
      expect(
        await fleet.exec(host, ["sh", "-c", "ls /etc/apt/sources.list 2>/dev/null; true"]),
      ).toBe("");
    }
  });

  it("makes a Consul cluster with a leader, both members alive, ACLs and gossip encryption", async () => {
    expect(JSON.parse((await curl(manager, "/v1/status/leader")).body)).toMatch(/:8300$/);
    const members = JSON.parse(
      (await curl(manager, "/v1/agent/members", { token: "consul" })).body,
    ) as {
      Name: string;
      Status: number;
    }[];
    expect(members.map((m) => [m.Name, m.Status]).sort()).toEqual(
      [manager.name, worker.name].map((n) => [n, 1]).sort(),
    );
    // Default deny: an anonymous request is refused.
    expect((await curl(worker, "/v1/acl/tokens")).status).toBe(403);
    expect((await curl(worker, "/v1/kv/anonymous", { method: "PUT" })).status).toBe(403);
    const keyring = await fleet.exec(manager, [
      "env",
      `CONSUL_HTTP_TOKEN=${secrets.consulManagementToken}`,
      "consul",
      "keyring",
      "-list",
    ]);
    expect(keyring).toContain(secrets.consulGossipKey);
  });

  it("creates the agent, Nomad and Traefik tokens with the given SecretIDs, least privilege", async () => {
    // Both agents registered their node with the agent token; Nomad's agents registered their
    // services with Nomad's token.
    await waitFor(
      "both nodes and Nomad's services in Consul's catalog",
      async () => {
        const nodes = JSON.parse(
          (await curl(manager, "/v1/catalog/nodes", { token: "consul" })).body,
        ) as {
          Node: string;
        }[];
        const services = JSON.parse(
          (await curl(manager, "/v1/catalog/services", { token: "consul" })).body,
        ) as Record<string, string[]>;
        return nodes.length === 2 && "nomad" in services && "nomad-client" in services;
      },
      { timeoutMs: 90_000, intervalMs: 2_000 },
    );
    // Traefik's token reads the catalog and health, and nothing else.
    const seen = JSON.parse(
      (await curl(worker, "/v1/catalog/services", { token: "traefik" })).body,
    ) as object;
    expect(Object.keys(seen)).toContain("nomad-client");
    expect(
      (await curl(worker, "/v1/health/service/nomad-client", { token: "traefik" })).status,
    ).toBe(200);
    expect((await curl(worker, "/v1/kv/traefik", { token: "traefik", method: "PUT" })).status).toBe(
      403,
    );
    expect((await curl(worker, "/v1/acl/tokens", { token: "traefik" })).status).toBe(403);
  });

  it("makes a Nomad cluster with a leader and a ready worker with a healthy Docker driver, ACLs on", async () => {
    const nomad = { token: "nomad" as const, port: 4646 };
    expect(JSON.parse((await curl(manager, "/v1/status/leader", { port: 4646 })).body)).toMatch(
      /:4647$/,
    );
    const nodes = JSON.parse((await curl(manager, "/v1/nodes", nomad)).body) as {
      Name: string;
      Status: string;
      Drivers: Record<string, { Healthy: boolean }>;
    }[];
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ Name: worker.name, Status: "ready" });
    expect(nodes[0]!.Drivers.docker?.Healthy).toBe(true);
    // Anonymous requests are refused; the management token works.
    expect((await curl(manager, "/v1/jobs", { port: 4646 })).status).toBe(403);
    expect((await curl(manager, "/v1/acl/token/self", nomad)).status).toBe(200);
    const volumes = await fleet.exec(worker, ["stat", "-c", "%u %a", "/srv/package-data"]);
    expect(volumes.trim()).toBe("10001 755");
  });

  it("keeps the HTTP APIs on loopback and the cluster ports behind the firewall", async () => {
    for (const host of fleet.hosts) {
      const listening = await fleet.exec(host, ["ss", "-Hltn"]);
      for (const port of [8500, 4646]) {
        const addresses = listening
          .split("\n")
          .map((l) => l.trim().split(/\s+/)[3] ?? "")
          .filter((a) => a.endsWith(`:${port}`));
        if (host === manager || port === 8500)
          expect(addresses, `${host.name}:${port}`).not.toEqual([]);
        expect(
          addresses.every((a) => a === `127.0.0.1:${port}`),
          `${host.name}: ${addresses}`,
        ).toBe(true);
        expect(await canConnect(host.ip, port)).toBe(false);
      }
      // SSH is open; Consul's RPC port answers the cluster's hosts, not this machine.
      expect(await canConnect(host.ip, 22)).toBe(true);
      expect(await canConnect(host.ip, 8301)).toBe(false);
    }
    const rpc = await fleet.exec(worker, [
      "sh",
      "-c",
      `timeout 3 bash -c 'exec 3<>/dev/tcp/${manager.ip}/8300' && echo open || echo closed`,
    ]);
    expect(rpc.trim()).toBe("open");
  });

  it("leaves Docker's published ports working behind the firewall", async () => {
    const image = await execa("docker", [
      "image",
      "inspect",
      "-f",
      "{{.Id}}",
      "elm-infra/tiny:latest",
    ]);
    expect(image.stdout).not.toBe("");
    await fleet.exec(worker, [
      "docker",
      "run",
      "-d",
      "--name",
      "published",
      "-p",
      "8089:8089",
      "elm-infra/tiny:latest",
      "httpd",
      "-f",
      "-p",
      "8089",
      "-h",
      "/www",
    ]);
    // A service on the host itself on a port the firewall does not open.
    await fleet.exec(worker, [
      "systemd-run",
      "--unit",
      "unopened",
      "python3",
      "-m",
      "http.server",
      "--bind",
      "0.0.0.0",
      "9099",
    ]);
    await waitFor("the published port", () => canConnect(worker.ip, 8089), {
      timeoutMs: 20_000,
      intervalMs: 500,
    });
    expect(await canConnect(worker.ip, 9099)).toBe(false);
    // Re-applying the firewall replaces its own table only: Docker's rules stay.
    await fleet.exec(worker, ["systemctl", "restart", "elm-infra-firewall"]);
    expect(await canConnect(worker.ip, 8089)).toBe(true);
    expect(await canConnect(worker.ip, 9099)).toBe(false);
    const local = await fleet.exec(worker, [
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "http://127.0.0.1:9099/",
    ]);
    expect(local).toBe("200");
  });

  it("runs Docker with live-restore: containers keep running through dockerd's restarts", async () => {
    for (const host of fleet.hosts) {
      const config = JSON.parse(
        await fleet.exec(host, ["cat", "/etc/docker/daemon.json"]),
      ) as object;
      expect(config, host.name).toMatchObject({ "live-restore": true });
      expect(await fleet.exec(host, ["docker", "info"]), host.name).toMatch(
        /Live Restore Enabled: true/,
      );
    }
    // The run that turned live-restore on (the image's dockerd started without it) restarted
    // dockerd and left the container that was running before it alone: same process.
    expect(liveRestoreAtStart.trim()).toBe("false");
    expect(await containerProcess(worker, "before-site")).toBe(beforeSite);
    // What a docker.io update does: dockerd restarts; the published port keeps its process and
    // answers.
    const published = await containerProcess(worker, "published");
    await fleet.exec(worker, ["systemctl", "restart", "docker"]);
    expect(await containerProcess(worker, "published")).toBe(published);
    expect(await canConnect(worker.ip, 8089)).toBe(true);
  });

  // Nomad 1.10's docker driver does not follow live-restore: its wait on the container breaks with
  // dockerd ("unexpected EOF"), it stops the container and restarts the task in place. This pins
  // that down (README: why live-restore); it fails when a Nomad release keeps the container.
  it("restarts a Nomad allocation's task in place when dockerd restarts (Nomad 1.10 ignores live-restore)", async () => {
    const nomad = { token: "nomad" as const, port: 4646 };
    // Nomad pulls a :latest image, and nothing can be pulled here.
    await fleet.exec(worker, ["docker", "tag", "elm-infra/tiny:latest", "elm-infra/tiny:live"]);
    const job = {
      Job: {
        ID: "live-restore",
        Name: "live-restore",
        Type: "service",
        Datacenters: ["dc1"],
        TaskGroups: [
          {
            Name: "app",
            Count: 1,
            // Restart after 1 s (the default waits 15 s and more).
            RestartPolicy: { Attempts: 2, Interval: 600e9, Delay: 1e9, Mode: "fail" },
            Tasks: [
              {
                Name: "sleep",
                Driver: "docker",
                Config: { image: "elm-infra/tiny:live", command: "sleep", args: ["3600"] },
                Resources: { CPU: 50, MemoryMB: 32 },
              },
            ],
          },
        ],
      },
    };
    const submitted = await curl(manager, "/v1/jobs", {
      ...nomad,
      method: "POST",
      body: JSON.stringify(job),
    });
    expect(submitted.status, submitted.body).toBe(200);
    interface Allocation {
      ID: string;
      ClientStatus: string;
      TaskStates?: Record<
        string,
        { State: string; Restarts: number; Events: { Type: string; DisplayMessage: string }[] }
      >;
    }
    const allocations = async () =>
      JSON.parse(
        (await curl(manager, "/v1/job/live-restore/allocations", nomad)).body,
      ) as Allocation[];
    await waitFor(
      "the allocation running",
      async () => (await allocations()).some((a) => a.ClientStatus === "running"),
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    const [running] = await allocations();
    const container = `sleep-${running!.ID}`;
    const before = await containerProcess(worker, container);
    await fleet.exec(worker, ["systemctl", "restart", "docker"]);
    const restarted = async () =>
      (await allocations()).some(
        (a) => a.TaskStates?.sleep?.State === "running" && (a.TaskStates.sleep.Restarts ?? 0) >= 1,
      );
    await waitFor("Nomad's restart of the task", restarted, {
      timeoutMs: 30_000,
      intervalMs: 1_000,
    });
    const after = await allocations();
    const events = after
      .flatMap(
        (a) => a.TaskStates?.sleep?.Events.map((e) => `${e.Type}: ${e.DisplayMessage}`) ?? [],
      )
      .join("\n");
    // The same allocation, its task restarted once in place, in a new container process.
    expect(
      after.map((a) => [a.ID, a.ClientStatus, a.TaskStates?.sleep?.Restarts]),
      events,
    ).toEqual([[running!.ID, "running", 1]]);
    expect(events).toMatch(/Terminated: .*EOF/);
    expect(await containerProcess(worker, container), events).not.toBe(before);
  });

  it("restarts no agent when a manager comes or goes: the join settings wait for the next start", async () => {
    const before = await Promise.all(fleet.hosts.map(agentPids));
    const joinFiles = (host: TestHost) =>
      fleet.exec(host, ["cat", "/etc/consul.d/join.hcl", "/etc/nomad.d/join.hcl"]);
    // A second manager that exists only in the inventory (the run is limited to the two real
    // hosts): its address goes into every agent's join settings, which no running agent rereads,
    // so nothing ever contacts it.
    const extraIp = manager.ip.replace(/\.\d+$/, ".250");
    const extra: SiteHost = {
      name: `${fleet.prefix}-extra-manager`,
      role: "manager",
      privateIp: extraIp,
      sshHost: extraIp,
      sshPort: 22,
    };
    const limit = hosts.map((h) => h.name).join(",");
    await runSite(undefined, undefined, { hosts: [...hosts, extra], limit });
    expect(await joinFiles(manager)).toMatch(/bootstrap_expect = 2/);
    expect(await joinFiles(worker)).toContain(`${extraIp}:4647`);
    expect(await Promise.all(fleet.hosts.map(agentPids))).toEqual(before);
    // And back to one manager.
    await runSite(undefined, undefined, { hosts, limit });
    expect(await joinFiles(manager)).toMatch(/bootstrap_expect = 1/);
    expect(await joinFiles(worker)).not.toContain(extraIp);
    expect(await Promise.all(fleet.hosts.map(agentPids))).toEqual(before);
    expect(JSON.parse((await curl(manager, "/v1/status/leader")).body)).toMatch(/:8300$/);
  });

  it("authorises exactly the target's key and the operators': one taken off the list is refused after the next run", async () => {
    const operatorKey = join(operatorDir, "id_ed25519");
    for (const host of fleet.hosts) expect(await logsIn(host, operatorKey), host.name).toBe(true);
    settings = { ...settings, authorizedKeys: [targetKey] };
    const run = await runSite();
    for (const host of fleet.hosts) {
      expect(run.recap[host.name], host.name).toMatchObject({ failed: 0 });
      expect(await logsIn(host, operatorKey), host.name).toBe(false);
      expect(await logsIn(host, fleet.privateKeyPath), host.name).toBe(true);
      expect(await fleet.exec(host, ["cat", "/root/.ssh/authorized_keys"])).toBe(targetKey);
    }
  });

  it("changes nothing and restarts no agent when run again", async () => {
    const before = await Promise.all(fleet.hosts.map(agentPids));
    const second = await runSite();
    for (const host of fleet.hosts)
      expect(second.recap[host.name], host.name).toMatchObject({ changed: 0, failed: 0 });
    expect(await Promise.all(fleet.hosts.map(agentPids))).toEqual(before);
  });
});
