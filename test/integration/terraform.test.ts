/**
 * Terraform/OpenTofu against the real iac modules: the DigitalOcean module plans offline (any
 * request the provider makes goes to a recording server on 127.0.0.1, and there must be none),
 * and the local module creates a real host container through the Docker provider, then destroys it.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { access, constants, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadedConfig } from "../../src/config/load.js";
import type { Target } from "../../src/config/schema.js";
import {
  findBinary,
  findCliConfig,
  toolCacheDir,
  type TerraformBinary,
} from "../../src/terraform/binary.js";
import type { TerraformEvent } from "../../src/terraform/events.js";
import { openTerraform } from "../../src/cluster/terraform.js";
import { freePorts } from "../harness/ports.js";

const fakeToken = `dop_v1_${randomBytes(24).toString("hex")}`;
const fakeKey =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkz0rWmK0a4ZlQz8mV1hUY5Gm1tHq9bkJ0o3dW5Xyzz ci@elm-infra";
const cacheDir = toolCacheDir();

const binary: TerraformBinary | undefined = await findBinary("auto").catch(() => undefined);
const cliConfig = await findCliConfig(cacheDir);
const mirror = join(cacheDir, "providers");
/** A provider binary in the mirror, as install.sh links it: <host>/<address>/<version>/linux_amd64/. */
async function hasProvider(address: string): Promise<boolean> {
  const host = binary?.program === "terraform" ? "registry.terraform.io" : "registry.opentofu.org";
  for (const version of await readdir(join(mirror, host, address)).catch(() => [] as string[])) {
    const dir = join(mirror, host, address, version, "linux_amd64");
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      if (
        await access(join(dir, file), constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return true;
    }
  }
  return false;
}
const skipReason = (): string | false => {
  if (!binary)
    return "neither tofu nor terraform is installed: run bash src/tools/install.sh --only tools";
  if (!cliConfig)
    return `${cacheDir}/terraformrc (the provider mirror) is missing: run bash src/tools/install.sh --only tools`;
  return false;
};
const doSkip =
  skipReason() ||
  ((await hasProvider("digitalocean/digitalocean"))
    ? false
    : "provider digitalocean/digitalocean is not in the mirror");
const dockerSkip =
  skipReason() ||
  ((await hasProvider("kreuzwerker/docker"))
    ? false
    : "provider kreuzwerker/docker is not in the mirror");
const hostImagePresent =
  (
    await execa("docker", ["image", "inspect", "elm-infra/host:latest"], {
      reject: false,
      timeout: 30_000,
    })
  ).exitCode === 0;
for (const reason of [doSkip, dockerSkip])
  if (reason) console.warn(`[terraform.test] SKIPPED: ${reason}`);

function loaded(root: string, targetName: string, target: Target, token?: string): LoadedConfig {
  return {
    root,
    file: join(root, "cluster.yaml"),
    cluster: { targets: { [targetName]: target }, services: {}, terraform: { binary: "auto" } },
    targetName,
    target,
    secrets: token ? { digitaloceanToken: token } : {},
    services: {},
  };
}

function baseTarget(over: Partial<Target>): Target {
  return {
    provider: "digitalocean",
    region: "fra1",
    sizes: { manager: "s-1vcpu-2gb", worker: "s-2vcpu-4gb" },
    image: "debian-12-x64",
    managers: 3,
    workers: 2,
    domains: {},
    ssh: { user: "root", port: 22, privateKey: "id_ed25519", knownHosts: ".elm-infra/known_hosts" },
    registry: "registry.digitalocean.com/elm",
    ports: { http: 8080, https: 8443 },
    ...over,
  };
}

interface PlannedResource {
  address: string;
  type: string;
  change: { actions: string[]; after: PlannedAttributes };
}

interface PlannedAttributes {
  name?: string;
  size?: string;
  tags?: string[];
  inbound_rule?: Array<{ protocol: string; port_range?: string; source_addresses?: string[] }>;
  [attribute: string]: unknown;
}

/** The parts of `docker inspect` the test reads. */
interface ContainerInfo {
  State: { Running: boolean };
  HostConfig: {
    CapAdd: string[];
    CapDrop: string[];
    SecurityOpt: string[];
    CgroupnsMode: string;
    Tmpfs?: Record<string, string>;
    Binds: string[];
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  };
  Mounts: Array<{ Type: string; Destination: string }>;
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

describe.skipIf(doSkip)("iac/digitalocean plans offline", () => {
  let root: string;
  let api: Server;
  const requests: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "elm-infra-tf-do-"));
    api = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => api?.close(() => resolve()));
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("plans 3 managers, 2 workers, a VPC, an SSH key and two firewalls without calling the API", async () => {
    const address = api.address();
    if (!address || typeof address === "string") throw new Error("no API address");
    const events: TerraformEvent[] = [];
    const tf = await openTerraform(loaded(root, "ci-plan", baseTarget({}), fakeToken), {
      inputs: { sshPublicKey: fakeKey, sshAllowedCidrs: ["203.0.113.0/24"] },
      // Any request the provider makes lands on the recording server, never on DigitalOcean.
      env: { ...process.env, DIGITALOCEAN_API_URL: `http://127.0.0.1:${address.port}` },
      onEvent: (e) => events.push(e),
    });
    await tf.init();
    const plan = await tf.plan();
    expect(plan.hasChanges).toBe(true);
    expect(plan.changes).toEqual({ add: 9, change: 0, remove: 0 });

    const shown = (await tf.showPlan(plan.planFile)) as { resource_changes: PlannedResource[] };
    await tf.discardPlan(plan.planFile);
    const byType = (type: string) => shown.resource_changes.filter((r) => r.type === type);
    expect(shown.resource_changes.every((r) => r.change.actions.join() === "create")).toBe(true);
    expect(byType("digitalocean_vpc")).toHaveLength(1);
    expect(byType("digitalocean_ssh_key")).toHaveLength(1);
    expect(byType("digitalocean_firewall")).toHaveLength(2);

    const droplets = byType("digitalocean_droplet");
    const managers = droplets.filter((d) => d.address.startsWith("digitalocean_droplet.manager["));
    const workers = droplets.filter((d) => d.address.startsWith("digitalocean_droplet.worker["));
    expect(managers.map((d) => d.change.after.name)).toEqual([
      "ci-plan-manager-1",
      "ci-plan-manager-2",
      "ci-plan-manager-3",
    ]);
    expect(workers.map((d) => d.change.after.name)).toEqual([
      "ci-plan-worker-1",
      "ci-plan-worker-2",
    ]);
    for (const m of managers) {
      expect(m.change.after).toMatchObject({
        region: "fra1",
        size: "s-1vcpu-2gb",
        image: "debian-12-x64",
      });
      expect(m.change.after.tags).toContain("elm-infra-manager");
    }
    for (const w of workers) {
      expect(w.change.after.size).toBe("s-2vcpu-4gb");
      expect(w.change.after.tags).toContain("elm-infra-worker");
    }
    expect(byType("digitalocean_vpc")[0]?.change.after).toMatchObject({
      region: "fra1",
      ip_range: "10.110.0.0/20",
    });

    const firewall = (name: string) =>
      byType("digitalocean_firewall").find((f) => f.change.after.name === name)?.change.after;
    const cluster = firewall("elm-infra-ci-plan-cluster");
    const web = firewall("elm-infra-ci-plan-web");
    expect(cluster?.inbound_rule).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          protocol: "tcp",
          port_range: "22",
          source_addresses: ["203.0.113.0/24"],
        }),
        expect.objectContaining({
          protocol: "tcp",
          port_range: "1-65535",
          source_addresses: ["10.110.0.0/20"],
        }),
        expect.objectContaining({
          protocol: "udp",
          port_range: "1-65535",
          source_addresses: ["10.110.0.0/20"],
        }),
      ]),
    );
    expect(web?.inbound_rule?.map((r) => r.port_range).sort()).toEqual(["443", "80"]);

    expect(requests).toEqual([]);
    expect(events.filter((e) => e.kind === "planned-change").length).toBe(9);
    expect(events.find((e) => e.kind === "version")).toMatchObject({ program: binary?.program });
    expect(JSON.stringify(events)).not.toContain(fakeToken);
    const varFile = await readFile(
      join(root, ".elm-infra/ci-plan/terraform/elm-infra.tfvars.json"),
      "utf8",
    );
    expect(varFile).not.toContain(fakeToken);
    expect(JSON.parse(varFile)).toMatchObject({
      name: "ci-plan",
      manager_count: 3,
      worker_count: 2,
    });
  });

  it("fails with the diagnostics' summary when the configuration is invalid", async () => {
    const tf = await openTerraform(loaded(root, "ci-bad", baseTarget({ managers: 2 }), fakeToken), {
      inputs: { sshPublicKey: fakeKey },
      env: { ...process.env, DIGITALOCEAN_API_URL: "http://127.0.0.1:9" },
    });
    await tf.init();
    await expect(tf.plan()).rejects.toThrow(
      /plan failed: Invalid value for variable .*manager count must be 1, 3, 5 or 7/,
    );
  });
});

/** The first line sshd sends on the loopback port, within a few bounded attempts. */
async function sshBanner(port: number): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const banner = await new Promise<string>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.setTimeout(2_000, () => socket.destroy());
      socket.once("data", (data) => {
        resolve(data.toString().split("\r\n")[0] ?? "");
        socket.destroy();
      });
      socket.once("close", () => resolve(""));
      socket.once("error", () => undefined);
    });
    if (banner) return banner;
    await new Promise((r) => setTimeout(r, 500));
  }
  return "";
}

async function docker(args: string[]): Promise<{ exitCode: number; stdout: string }> {
  const r = await execa("docker", args, { reject: false, timeout: 60_000 });
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout) };
}

describe.skipIf(dockerSkip)("iac/local with the Docker provider", () => {
  const name = `eit-${randomBytes(3).toString("hex")}`;
  let root: string;
  // The real host image when images/base/build.sh has made it, else busybox running httpd.
  const image =
    process.env.ELM_INFRA_TEST_HOST_IMAGE ??
    (hostImagePresent ? "elm-infra/host:latest" : "elm-infra/tiny:latest");

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "elm-infra-tf-local-"));
  });
  afterAll(async () => {
    // Whatever the test left behind, by the labels and names the module gives it.
    const ids = (await docker(["ps", "-aq", "--filter", `label=elm-infra.target=${name}`])).stdout
      .split("\n")
      .filter(Boolean);
    if (ids.length > 0) await docker(["rm", "-f", "-v", ...ids]);
    await docker(["network", "rm", `${name}-net`]);
    const volumes = (
      await docker(["volume", "ls", "-q", "--filter", `label=elm-infra.target=${name}`])
    ).stdout
      .split("\n")
      .filter(Boolean);
    if (volumes.length > 0) await docker(["volume", "rm", "-f", ...volumes]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("creates a host container with VM capabilities and loopback ports, then destroys it", async () => {
    const [sshPort, httpPort, httpsPort] = (await freePorts(3)) as [number, number, number];
    const events: TerraformEvent[] = [];
    const target = baseTarget({
      provider: "local",
      region: "local",
      image,
      managers: 1,
      workers: 1,
      registry: "local",
      ports: { http: httpPort, https: httpsPort },
    });
    const tf = await openTerraform(loaded(root, name, target), {
      inputs: { sshPublicKey: fakeKey, sshBasePort: sshPort },
      // One worker, no manager: a single container is enough to prove the module and the provider.
      extraVars: {
        manager_count: 0,
        worker_count: 1,
        ...(image.includes("tiny")
          ? { command: ["/bin/httpd", "-f", "-p", "80", "-h", "/www"], stop_signal: "SIGKILL" }
          : {}),
      },
      onEvent: (e) => events.push(e),
    });
    await tf.init();
    const plan = await tf.plan();
    expect(plan.changes).toEqual({ add: 3, change: 0, remove: 0 }); // network, volume, container
    await tf.apply(plan.planFile);

    const container = `${name}-worker-1`;
    const outputs = await tf.outputs();
    expect(outputs.worker_names).toEqual([container]);
    expect(outputs.manager_names).toEqual([]);
    expect(outputs.worker_ssh).toEqual([{ host: "127.0.0.1", port: sshPort }]);

    const inspected = await docker(["inspect", container]);
    expect(inspected.exitCode).toBe(0);
    const [info] = JSON.parse(inspected.stdout) as [ContainerInfo];
    expect(info.State.Running).toBe(true);
    expect(info.HostConfig.CapAdd).toContain("ALL");
    expect(info.HostConfig.CapDrop.map((c) => c.replace(/^CAP_/, ""))).toEqual(["SYS_RESOURCE"]);
    expect(info.HostConfig.SecurityOpt).toEqual(
      expect.arrayContaining(["seccomp=unconfined", "apparmor=unconfined"]),
    );
    expect(info.HostConfig.CgroupnsMode).toBe("host");
    expect(Object.keys(info.HostConfig.Tmpfs ?? {}).sort()).toEqual(["/run", "/run/lock"]);
    expect(info.HostConfig.Binds).toEqual(
      expect.arrayContaining(["/sys/fs/cgroup:/sys/fs/cgroup:rw"]),
    );
    expect(
      info.Mounts.some((m) => m.Type === "volume" && m.Destination === "/var/lib/docker"),
    ).toBe(true);
    expect(info.HostConfig.PortBindings).toEqual({
      "22/tcp": [{ HostIp: "127.0.0.1", HostPort: String(sshPort) }],
      "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(httpPort) }],
      "443/tcp": [{ HostIp: "127.0.0.1", HostPort: String(httpsPort) }],
    });
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([`${name}-net`]);
    expect(outputs.worker_private_ips).toEqual([
      info.NetworkSettings.Networks[`${name}-net`]?.IPAddress,
    ]);
    const keys = await docker(["exec", container, "cat", "/root/.ssh/authorized_keys"]);
    expect(keys.stdout.trim()).toBe(fakeKey);

    if (image.includes("tiny")) {
      // The first worker's port 80 is what a user reaches on the loopback port.
      let status = 0;
      for (let attempt = 0; attempt < 10 && status === 0; attempt++) {
        status = await fetch(`http://127.0.0.1:${httpPort}/`, {
          signal: AbortSignal.timeout(2_000),
        }).then(
          (r) => r.status,
          async () => (await new Promise((r) => setTimeout(r, 500)), 0),
        );
      }
      expect(status).toBeGreaterThanOrEqual(200);
    }
    if (!image.includes("tiny")) {
      // The host image boots systemd and sshd with exactly the capabilities the module grants.
      const state = await docker([
        "exec",
        container,
        "timeout",
        "60",
        "systemctl",
        "is-system-running",
        "--wait",
      ]);
      expect(["running", "degraded"]).toContain(state.stdout.trim());
      expect(await sshBanner(sshPort)).toMatch(/^SSH-2\.0-/);
    }
    expect(
      events.some(
        (e) =>
          e.kind === "apply-complete" && e.resource === `docker_container.host["${container}"]`,
      ),
    ).toBe(true);

    const destroyed = await tf.destroy();
    expect(destroyed.remove).toBe(3);
    expect((await docker(["inspect", container])).exitCode).not.toBe(0);
    expect((await docker(["network", "inspect", `${name}-net`])).exitCode).not.toBe(0);
    expect((await docker(["volume", "inspect", `${container}-docker`])).exitCode).not.toBe(0);
  });
});
