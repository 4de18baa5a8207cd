/**
 * OpenTofu against the real iac modules and providers.
 * - iac/digitalocean plans offline (every request the provider makes goes to a recording server on
 *   127.0.0.1, and there must be none); the plan JSON is asserted: droplets per named host, the
 *   load balancer health-checking Traefik's ping, the package data volume, firewalls that open SSH
 *   to the admin addresses only and nothing else to the world.
 * - iac/local creates real host containers and the HAProxy load balancer through the Docker
 *   provider at the addresses the host planner gave, adds a worker without touching the others,
 *   then destroys everything it labelled.
 */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { createServer, type Server } from "node:http";
import { connect, createServer as createTcpServer } from "node:net";
import {
  access,
  constants,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadedConfig } from "../../src/config/load.js";
import type { Service, Target } from "../../src/config/schema.js";
import {
  findBinary,
  findCliConfig,
  toolCacheDir,
  type TerraformBinary,
} from "../../src/terraform/binary.js";
import type { TerraformEvent } from "../../src/terraform/events.js";
import {
  inventoryFromOutputs,
  openTerraform,
  prepareTerraform,
} from "../../src/cluster/terraform.js";
import { localAddress, localNetwork } from "../../src/plan/hosts.js";
import { freePorts } from "../harness/ports.js";
import { detachVolumes } from "../harness/local-target.js";
import { lookUpAddresses } from "../../src/dns/resolver.js";
import { md5Fingerprint, type TfVarSet } from "../../src/terraform/vars.js";
import { buildProgram } from "../../src/cli/program.js";
import { formatBringUp } from "../../src/commands/bring-up.js";
import { loadConfig, secretEnv } from "../../src/config/load.js";
import { summarizePlan, type TofuPlanJson } from "../../src/plan/bring-up.js";
import type { GlobalOptions } from "../../src/tasks/context.js";
import { uncommentBlock } from "../support/cluster-yaml.js";

const fakeToken = `dop_v1_${randomBytes(24).toString("hex")}`;
const fakeKey =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkz0rWmK0a4ZlQz8mV1hUY5Gm1tHq9bkJ0o3dW5Xyzz ci@elm-infra";
const cacheDir = toolCacheDir();

const binary: TerraformBinary | undefined = await findBinary("auto").catch(() => undefined);
const cliConfig = await findCliConfig(cacheDir);
const mirror = join(cacheDir, "providers");
/** The DigitalOcean provider's version that install.sh builds and iac/digitalocean pins. */
const doProviderVersion = (
  JSON.parse(
    await readFile(new URL("../../src/tools/versions.json", import.meta.url), "utf8"),
  ) as Record<string, { version: string }>
)["terraform-provider-digitalocean"]!.version;
/** A provider binary in the mirror, as install.sh links it: <host>/<address>/<version>/linux_amd64/. */
async function hasProvider(address: string, pinned?: string): Promise<boolean> {
  const host = binary?.program === "terraform" ? "registry.terraform.io" : "registry.opentofu.org";
  const versions = await readdir(join(mirror, host, address)).catch(() => [] as string[]);
  for (const version of versions.filter((v) => pinned === undefined || v === pinned)) {
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
  ((await hasProvider("digitalocean/digitalocean", doProviderVersion))
    ? false
    : `provider digitalocean/digitalocean ${doProviderVersion} is not in the mirror: run bash src/tools/install.sh --only tools`);
const imagePresent = async (image: string) =>
  (await execa("docker", ["image", "inspect", image], { reject: false, timeout: 30_000 }))
    .exitCode === 0;
const hostImagePresent = await imagePresent("elm-infra/host:latest");
const dockerSkip =
  skipReason() ||
  ((await hasProvider("kreuzwerker/docker"))
    ? false
    : "provider kreuzwerker/docker is not in the mirror") ||
  ((await imagePresent("elm-infra/lb:latest"))
    ? false
    : "image elm-infra/lb:latest is missing: run bash images/base/build.sh lb") ||
  (hostImagePresent || (await imagePresent("elm-infra/tiny:latest"))
    ? false
    : "neither elm-infra/host:latest nor elm-infra/tiny:latest exists: run bash images/base/build.sh");
for (const reason of [doSkip, dockerSkip])
  if (reason) console.warn(`[terraform.test] SKIPPED: ${reason}`);

/** A loaded configuration; `hostnames`: one service's, whose DNS records the modules make. */
function loaded(
  root: string,
  targetName: string,
  target: Target,
  token?: string,
  hostnames: string[] = [],
): LoadedConfig {
  const services: Record<string, Service> =
    hostnames.length > 0 ? { site: { hostnames } as Service } : {};
  return {
    root,
    file: join(root, "cluster.yaml"),
    cluster: { targets: { [targetName]: target }, services, terraform: { binary: "auto" } },
    targetName,
    target,
    secrets: token ? { digitaloceanToken: token } : {},
    services,
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
    ports: { http: 8080, https: 8443, ssh: 2200 },
    ...over,
  };
}

interface PlannedResource {
  address: string;
  type: string;
  index?: string;
  change: { actions: string[]; after: PlannedAttributes; after_unknown?: Record<string, unknown> };
}

interface FirewallRule {
  protocol: string;
  port_range?: string;
  source_addresses?: string[];
  source_tags?: string[];
}

interface PlannedAttributes {
  name?: string;
  size?: string | number;
  tags?: string[];
  inbound_rule?: FirewallRule[];
  [attribute: string]: unknown;
}

const world = ["0.0.0.0/0", "::/0"];

describe.skipIf(doSkip)("iac/digitalocean plans offline", () => {
  let root: string;
  let api: Server;
  const requests: string[] = [];
  const admin = ["203.0.113.7/32", "2001:db8::/64"];
  // An operator's own address joins adminCidrs in the SSH rule.
  const adminOperator = { name: "ada", ageRecipient: "age1ada", adminCidr: "198.51.100.7/32" };
  const sshSources = [...admin, adminOperator.adminCidr];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "elm-infra-tf-do-"));
    api = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(403).end();
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => api?.close(() => resolve()));
    if (root) await rm(root, { recursive: true, force: true });
  });
  const apiUrl = () => {
    const address = api.address();
    if (!address || typeof address === "string") throw new Error("no API address");
    return `http://127.0.0.1:${address.port}`;
  };

  it.each([
    [3, 2],
    [1, 3],
  ])(
    "%i managers + %i workers: named droplets, the load balancer on Traefik's ping, the volume, SSH from the admins (adminCidrs and the operators') only",
    async (managers, workers) => {
      requests.length = 0;
      const name = `ci-plan-${managers}-${workers}`;
      const events: TerraformEvent[] = [];
      const { tf, hostPlan } = await prepareTerraform(
        loaded(
          root,
          name,
          baseTarget({ managers, workers, adminCidrs: admin, operators: [adminOperator] }),
          fakeToken,
        ),
        {
          sshPublicKey: fakeKey,
          // Any request the provider makes lands on the recording server, never on DigitalOcean.
          env: { ...process.env, DIGITALOCEAN_API_URL: apiUrl() },
          onEvent: (e) => events.push(e),
        },
      );
      expect(hostPlan.created).toHaveLength(managers + workers);
      // init took the pinned provider (versions.tf and versions.json agree) from the mirror.
      const lock = await readFile(join(tf.workDir, ".terraform.lock.hcl"), "utf8");
      expect(lock).toMatch(
        new RegExp(
          `provider "registry\\.(opentofu\\.org|terraform\\.io)/digitalocean/digitalocean" \\{\\s*version\\s*=\\s*"${doProviderVersion.replaceAll(".", "\\.")}"`,
        ),
      );
      const plan = await tf.plan();
      expect(plan.hasChanges).toBe(true);
      const shown = (await tf.showPlan(plan.planFile)) as {
        resource_changes: PlannedResource[];
        output_changes?: Record<string, { after?: unknown }>;
      };
      await tf.discardPlan(plan.planFile);
      const changes = shown.resource_changes;
      const byType = (type: string) => changes.filter((r) => r.type === type);
      expect(changes.every((r) => r.change.actions.join() === "create")).toBe(true);

      // Host counts follow the configuration, each droplet by its planned name and role tag.
      const droplets = byType("digitalocean_droplet");
      expect(droplets.map((d) => d.change.after.name).sort()).toEqual(
        hostPlan.hosts.map((h) => h.name).sort(),
      );
      expect(droplets.map((d) => d.index).sort()).toEqual(hostPlan.hosts.map((h) => h.name).sort());
      for (const host of hostPlan.hosts) {
        const after = droplets.find((d) => d.change.after.name === host.name)!.change.after;
        expect([...(after.tags ?? [])].sort()).toEqual(
          [`elm-infra-${name}`, `${name}-${host.role}`].sort(),
        );
        expect(after.size).toBe(host.role === "manager" ? "s-1vcpu-2gb" : "s-2vcpu-4gb");
        expect(after).toMatchObject({ region: "fra1", image: "debian-12-x64" });
        // On ssh.port 22 the image's sshd is left as it is: no first-boot script.
        expect(after.user_data ?? null).toBeNull();
      }
      expect(
        byType("digitalocean_tag")
          .map((t) => t.change.after.name)
          .sort(),
      ).toEqual([`elm-infra-${name}`, `${name}-manager`, `${name}-worker`].sort());

      // The load balancer: the workers' tag, 80 and 443 passed through, Traefik's ping checked.
      const [lb] = byType("digitalocean_loadbalancer");
      expect(lb?.change.after).toMatchObject({
        droplet_tag: `${name}-worker`,
        region: "fra1",
        healthcheck: [{ protocol: "http", port: 8082, path: "/ping" }],
      });
      const rules = lb!.change.after.forwarding_rule as Array<Record<string, unknown>>;
      expect(rules).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ entry_port: 80, target_port: 80, entry_protocol: "http" }),
          expect.objectContaining({
            entry_port: 443,
            target_port: 443,
            entry_protocol: "https",
            tls_passthrough: true,
          }),
        ]),
      );

      // The package data volume, attached to a worker.
      expect(byType("digitalocean_volume")).toHaveLength(1);
      expect(byType("digitalocean_volume")[0]?.change.after).toMatchObject({
        name: `${name}-package-data`,
        region: "fra1",
        initial_filesystem_type: "ext4",
      });
      expect(byType("digitalocean_volume_attachment")).toHaveLength(1);
      expect(hostPlan.packageDataHost).toBe(`${name}-worker-1`);
      // What the package_data role mounts: the holder and the volume's stable device id.
      expect(shown.output_changes?.package_data?.after).toEqual({
        host: `${name}-worker-1`,
        device: `/dev/disk/by-id/scsi-0DO_Volume_${name}-package-data`,
      });

      // Firewalls: nothing is open to the world; SSH from the admins; the rest inside the VPC
      // or (80/443 on the workers) from the load balancer only.
      const firewalls = byType("digitalocean_firewall");
      expect(firewalls).toHaveLength(2);
      const inbound = firewalls.flatMap((f) => f.change.after.inbound_rule ?? []);
      for (const rule of inbound) {
        for (const source of rule.source_addresses ?? []) expect(world).not.toContain(source);
      }
      const ssh = inbound.filter((r) => r.port_range === "22");
      expect(ssh.map((r) => [r.protocol, [...(r.source_addresses ?? [])].sort()])).toEqual([
        ["tcp", [...sshSources].sort()],
      ]);
      const open = inbound.filter((r) => r.port_range !== "22");
      for (const rule of open.filter((r) => r.source_addresses?.length)) {
        expect(rule.source_addresses).toEqual(["10.110.0.0/20"]);
      }
      const web = firewalls.find((f) => f.change.after.name === `elm-infra-${name}-web`)!;
      expect(web.change.after.tags).toEqual([`${name}-worker`]);
      expect(web.change.after.inbound_rule?.map((r) => r.port_range).sort()).toEqual(["443", "80"]);
      for (const rule of web.change.after.inbound_rule ?? []) {
        expect(rule.source_addresses ?? []).toEqual([]);
      }
      // The load balancer's id is known only after it exists: the rule names it, unknown now.
      expect(JSON.stringify(web.change.after_unknown)).toContain("source_load_balancer_uids");

      expect(requests).toEqual([]);
      expect(JSON.stringify(events)).not.toContain(fakeToken);
      const varFile = await readFile(
        join(root, `.elm-infra/${name}/terraform/elm-infra.tfvars.json`),
        "utf8",
      );
      expect(varFile).not.toContain(fakeToken);
      expect(JSON.parse(varFile)).toMatchObject({ name, admin_cidrs: sshSources });
    },
  );

  it("ssh.port other than 22: sshd listens there from the first boot (cloud-init), and the cloud firewall opens that port, not 22", async () => {
    const { tf } = await prepareTerraform(
      loaded(
        root,
        "ci-port",
        baseTarget({
          managers: 1,
          workers: 1,
          adminCidrs: admin,
          ssh: { user: "root", port: 2222, privateKey: "id_ed25519", knownHosts: "kh" },
        }),
        fakeToken,
      ),
      { sshPublicKey: fakeKey, env: { ...process.env, DIGITALOCEAN_API_URL: apiUrl() } },
    );
    const plan = await tf.plan();
    const shown = (await tf.showPlan(plan.planFile)) as { resource_changes: PlannedResource[] };
    await tf.discardPlan(plan.planFile);
    const droplets = shown.resource_changes.filter((r) => r.type === "digitalocean_droplet");
    expect(droplets).toHaveLength(2);
    // The first boot's cloud-config: the same drop-in the playbook's base role keeps.
    const firstBoot = [
      "#cloud-config",
      "write_files:",
      "  - path: /etc/ssh/sshd_config.d/01-elm-infra.conf",
      '    permissions: "0644"',
      "    content: |",
      "      Port 2222",
      "runcmd:",
      "  - [systemctl, restart, ssh]",
      "",
    ].join("\n");
    // The provider keeps user_data as its SHA-1 (it sends the text, it stores the hash).
    const forms = [firstBoot, createHash("sha1").update(firstBoot).digest("hex")];
    for (const d of droplets) expect(forms).toContain(d.change.after.user_data);
    const firewall = shown.resource_changes.find((r) => r.type === "digitalocean_firewall")!;
    const inbound = firewall.change.after.inbound_rule as FirewallRule[];
    const ssh = inbound.filter((r) => r.source_addresses?.includes(admin[0]!));
    expect(ssh.map((r) => r.port_range)).toEqual(["2222"]);
  });

  it("an SSH key already on the account, named by its fingerprint, is not uploaded again: the droplets take it", async () => {
    const fingerprint = md5Fingerprint(fakeKey);
    const { tf } = await prepareTerraform(
      loaded(
        root,
        "ci-key",
        baseTarget({
          managers: 1,
          workers: 1,
          adminCidrs: admin,
          ssh: {
            user: "root",
            port: 22,
            privateKey: "id_ed25519",
            knownHosts: "kh",
            accountKeyFingerprint: fingerprint,
          },
        }),
        fakeToken,
      ),
      { sshPublicKey: fakeKey, env: { ...process.env, DIGITALOCEAN_API_URL: apiUrl() } },
    );
    const plan = await tf.plan();
    const shown = (await tf.showPlan(plan.planFile)) as { resource_changes: PlannedResource[] };
    await tf.discardPlan(plan.planFile);
    expect(shown.resource_changes.filter((r) => r.type === "digitalocean_ssh_key")).toEqual([]);
    const droplets = shown.resource_changes.filter((r) => r.type === "digitalocean_droplet");
    expect(droplets).toHaveLength(2);
    for (const d of droplets) expect(d.change.after.ssh_keys).toEqual([fingerprint]);
  });

  it("a second operator whose public key differs changes no droplet: the account's key is uploaded again, no droplet is updated or replaced (a droplet takes its keys at creation; the playbook keeps authorized_keys)", async () => {
    requests.length = 0;
    const name = "ci-operators";
    const env = { ...process.env, DIGITALOCEAN_API_URL: apiUrl() };
    const config = () =>
      loaded(root, name, baseTarget({ managers: 1, workers: 1, adminCidrs: admin }), fakeToken);
    // The first operator's plan, and the state as if it had been applied.
    const first = await prepareTerraform(config(), { sshPublicKey: fakeKey, env });
    const created = await first.tf.plan();
    const shown = (await first.tf.showPlan(created.planFile)) as {
      resource_changes: Array<PlannedResource & { mode: string; name: string }>;
    };
    await first.tf.discardPlan(created.planFile);
    const schemas = await execa(binary!.path, ["providers", "schema", "-json"], {
      cwd: first.tf.workDir,
      env: { ...process.env, CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: cliConfig! },
    });
    const [provider, schema] = Object.entries(
      (
        JSON.parse(String(schemas.stdout)) as {
          provider_schemas: Record<
            string,
            { resource_schemas: Record<string, { version: number }> }
          >;
        }
      ).provider_schemas,
    )[0]!;
    const applied = appliedState(shown.resource_changes, {
      provider,
      versionOf: (type) => schema.resource_schemas[type]!.version,
      fingerprint: md5Fingerprint(fakeKey),
    });
    await writeFile(join(first.tf.workDir, "terraform.tfstate"), JSON.stringify(applied));

    // The second operator's bring-up, with another public key beside ssh.privateKey.
    const otherKey =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOperatorsKeyOtherOperatorsKeyOtherOpe bob@elm-infra";
    const second = await prepareTerraform(config(), { sshPublicKey: otherKey, env });
    expect(second.hostPlan.created).toEqual([]);
    const plan = await second.tf.plan({ refresh: false });
    const after = (await second.tf.showPlan(plan.planFile)) as {
      resource_changes: PlannedResource[];
    };
    await second.tf.discardPlan(plan.planFile);
    const actions = (type: string) =>
      after.resource_changes
        .filter((r) => r.type === type)
        .map((r) => [r.index ?? "", r.change.actions.join()]);
    expect(actions("digitalocean_ssh_key")).toEqual([[0, "delete,create"]]);
    expect(actions("digitalocean_droplet")).toEqual([
      [`${name}-manager-1`, "no-op"],
      [`${name}-worker-1`, "no-op"],
    ]);
    expect(requests).toEqual([]);
  });

  it.each([
    ["dns.zone names the zone: an A record of every hostname for the load balancer, no AAAA", true],
    ["no dns.zone: no record at all (bring-up says which to create)", false],
  ])("%s", async (_what, zoned) => {
    const hostnames = ["elm-lang.org", "www.elm-lang.org", "package.elm-lang.org"];
    const { tf } = await prepareTerraform(
      loaded(
        root,
        zoned ? "ci-dns" : "ci-nodns",
        baseTarget({
          managers: 1,
          workers: 1,
          adminCidrs: admin,
          ...(zoned ? { dns: { zone: "elm-lang.org" } } : {}),
        }),
        fakeToken,
        hostnames,
      ),
      { sshPublicKey: fakeKey, env: { ...process.env, DIGITALOCEAN_API_URL: apiUrl() } },
    );
    const plan = await tf.plan();
    const shown = (await tf.showPlan(plan.planFile)) as { resource_changes: PlannedResource[] };
    await tf.discardPlan(plan.planFile);
    const records = shown.resource_changes.filter((r) => r.type === "digitalocean_record");
    expect(
      records.map((r) => [
        r.index,
        r.change.actions.join(),
        r.change.after.type,
        r.change.after.name,
      ]),
    ).toEqual(
      zoned
        ? [
            ["elm-lang.org", "create", "A", "@"],
            ["package.elm-lang.org", "create", "A", "package"],
            ["www.elm-lang.org", "create", "A", "www"],
          ]
        : [],
    );
    for (const r of records) {
      expect(r.change.after).toMatchObject({ domain: "elm-lang.org", ttl: 300 });
      // The load balancer's address, known once it exists.
      expect(r.change.after_unknown).toMatchObject({ value: true });
    }
    expect(records.filter((r) => r.change.after.type === "AAAA")).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("the module itself refuses SSH open to the whole internet", async () => {
    const { tf } = await prepareTerraform(
      loaded(root, "ci-bad", baseTarget({ adminCidrs: admin }), fakeToken),
      {
        sshPublicKey: fakeKey,
        extraVars: { admin_cidrs: ["0.0.0.0/0"] },
        env: { ...process.env, DIGITALOCEAN_API_URL: apiUrl() },
      },
    );
    await expect(tf.plan()).rejects.toThrow(
      /plan failed: Invalid value for variable .*the whole internet is refused/,
    );
  });

  it("init on a machine without the pinned providers says what installs them", async () => {
    // A CLI config whose only source is an empty mirror: OpenTofu asks nothing on the network.
    const empty = await mkdtemp(join(tmpdir(), "elm-infra-no-providers-"));
    try {
      await mkdir(join(empty, "mirror"));
      const rc = join(empty, "terraformrc");
      await writeFile(
        rc,
        `provider_installation {\n  filesystem_mirror {\n    path = "${join(empty, "mirror")}"\n  }\n}\n`,
      );
      const tf = await openTerraform(
        loaded(root, "ci-no-providers", baseTarget({ adminCidrs: admin }), fakeToken),
        { env: { ...process.env, TF_CLI_CONFIG_FILE: rc } },
      );
      const refused = await tf.init().then(
        () => undefined,
        (e: unknown) => e as { message: string; hint?: string },
      );
      expect(refused?.message).toMatch(/init failed: .*provider/i);
      expect(refused?.hint).toMatch(/run npm run tools/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("with remoteState, init uses the Spaces (S3) backend at its endpoint", async () => {
    requests.length = 0;
    const tf = await openTerraform(
      loaded(
        root,
        "ci-remote",
        baseTarget({
          adminCidrs: admin,
          remoteState: { bucket: "elm-state", region: "fra1", endpoint: apiUrl() },
        }),
        fakeToken,
      ),
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: "fake-spaces-key",
          AWS_SECRET_ACCESS_KEY: "fake-spaces-secret",
          AWS_MAX_ATTEMPTS: "1",
        },
      },
    );
    await expect(tf.init()).rejects.toThrow(/init failed/);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.includes("elm-state"))).toBe(true);
  });

  /**
   * README.md's "First production bring-up", its commands as written, in order, in a fresh
   * project folder holding the repository's cluster.yaml with the edits its step 4 asks for
   * (adminCidrs and the rehearsal target uncommented, the example values kept). What can run
   * offline runs: ssh-keygen, every `npm run` command's arguments through elm-infra's own parser,
   * and each `bring-up --dry-run` as OpenTofu's plan of that target with the exported (made-up)
   * token, whose summary must be the line the README quotes. What cannot is checked for what it
   * names: `npm run tools` exists, `doctl` creates the registry cluster.yaml
   * names. Bring-up's own checks of the registry and the account need DigitalOcean: not run.
   */
  it("the README's First production bring-up runs as written: each command parses, each dry run plans the line the README quotes", async () => {
    requests.length = 0;
    const project = await mkdtemp(join(tmpdir(), "elm-infra-readme-"));
    const home = join(project, "home");
    try {
      await mkdir(home);
      const repository = new URL("../../", import.meta.url);
      const readme = await readFile(new URL("README.md", repository), "utf8");
      const section = sectionOf(readme, "### First production bring-up");
      const clusterYaml = uncommentBlock(
        uncommentBlock(await readFile(new URL("cluster.yaml", repository), "utf8"), "adminCidrs"),
        "rehearsal",
      );
      await writeFile(join(project, "cluster.yaml"), clusterYaml);
      const scripts = (
        JSON.parse(await readFile(new URL("package.json", repository), "utf8")) as {
          scripts: Record<string, string>;
        }
      ).scripts;
      const env: NodeJS.ProcessEnv = {};
      const planned: string[] = [];
      const ran: string[] = [];

      for (const line of shellCommands(section)) {
        const words = line.split(/\s+/);
        if (line === "npm run tools") {
          expect(scripts.tools).toBe("bash src/tools/install.sh");
        } else if (words[0] === "mkdir" || words[0] === "ssh-keygen") {
          // Commands on this machine alone: run, in a home of the test's.
          await execa("sh", ["-c", line], { env: { ...process.env, HOME: home } });
        } else if (words[0] === "export") {
          const [name] = words[1]!.split("=");
          expect(secretEnv.digitaloceanToken).toContain(name);
          env[name!] = fakeToken;
        } else if (words[0] === "doctl") {
          expect(line).toMatch(/^doctl registry create ([a-z0-9-]+) --subscription-tier basic$/);
          expect(clusterYaml).toContain(`registry: registry.digitalocean.com/${words[3]}\n`);
        } else if (words[0] === "npm" && words[1] === "run" && words[3] === "--") {
          const [command, args] = [words[2]!, words.slice(4)];
          expect(scripts[command]).toBe(`bash src/tools/cli.sh ${command}`);
          const parsed = await parseCommand([command, ...args]);
          expect(parsed.name).toBe(command);
          if (command === "bring-up" && parsed.options.dryRun) {
            planned.push(
              await planAsBringUpWould(
                join(project, "cluster.yaml"),
                parsed.options.target!,
                env,
                await readFile(join(home, ".ssh", "elm-infra.pub"), "utf8"),
              ),
            );
          }
        } else {
          throw new Error(`a command this test does not know how to check: ${line}`);
        }
        ran.push(words.slice(0, 3).join(" "));
      }

      // Every step is there, in the order a first bring-up needs.
      expect(ran.indexOf("npm run tools")).toBe(0);
      expect(ran.filter((r) => r === "npm run bring-up")).toHaveLength(4);
      expect(ran.indexOf("npm run deploy")).toBeGreaterThan(ran.indexOf("npm run bring-up"));
      expect(planned.map((p) => /^plan for target (\S+)/.exec(p)?.[1])).toEqual([
        "rehearsal",
        "production",
      ]);
      // The README quotes each dry run's line as bring-up prints it for this plan.
      const quoted = [...section.replace(/\s+/g, " ").matchAll(/`(plan for target [^`]*)`/g)].map(
        (m) => m[1],
      );
      expect(quoted).toEqual(planned);
      expect(requests).toEqual([]);
    } finally {
      await rm(project, { recursive: true, force: true });
    }
  });

  /** What bring-up --dry-run plans for a target (its machines: OpenTofu's plan), as it says it. */
  async function planAsBringUpWould(
    file: string,
    target: string,
    env: NodeJS.ProcessEnv,
    sshPublicKey: string,
  ): Promise<string> {
    const config = await loadConfig({ file, target, env });
    expect(config.secrets.digitaloceanToken).toBe(fakeToken);
    const { tf } = await prepareTerraform(config, {
      sshPublicKey,
      env: { ...process.env, DIGITALOCEAN_API_URL: apiUrl() },
    });
    const plan = await tf.plan();
    const shown = (await tf.showPlan(plan.planFile)) as { resource_changes: PlannedResource[] };
    await tf.discardPlan(plan.planFile);
    if (target === "rehearsal") {
      // The rehearsal of cluster.yaml: its own VPC range, one manager and one worker.
      const vpc = shown.resource_changes.find((r) => r.type === "digitalocean_vpc");
      expect(vpc?.change.after).toMatchObject({ ip_range: "10.200.0.0/20" });
      const droplets = shown.resource_changes.filter((r) => r.type === "digitalocean_droplet");
      expect(droplets.map((d) => d.change.after.name).sort()).toEqual([
        "rehearsal-manager-1",
        "rehearsal-worker-1",
      ]);
    }
    return formatBringUp(
      {
        target,
        outcome: "planned",
        plan: summarizePlan(shown as unknown as TofuPlanJson),
        deadHosts: [],
        restoredFrom: null,
        changes: [],
        ansibleChanged: {},
        cluster: null,
      },
      () => "",
    );
  }
});

/**
 * A version 4 state as if a creation plan had been applied, for the resources a droplet stands
 * on (its account key, VPC and tags) and the droplets: each with the plan's known values, a made
 * up id, and the references the plan did not know yet (the VPC's id, the key's fingerprint).
 */
function appliedState(
  changes: Array<PlannedResource & { mode: string; name: string }>,
  o: { provider: string; versionOf: (type: string) => number; fingerprint: string },
): unknown {
  const kept = [
    "digitalocean_ssh_key",
    "digitalocean_vpc",
    "digitalocean_tag",
    "digitalocean_droplet",
  ];
  const vpcId = "5f0b6a6e-0000-4000-8000-000000000001";
  const chosen = changes.filter((r) => r.mode === "managed" && kept.includes(r.type));
  const groups = new Map<string, typeof chosen>();
  for (const r of chosen) {
    const key = `${r.type}.${r.name}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  let id = 1000;
  return {
    version: 4,
    terraform_version: "1.10.0",
    serial: 1,
    lineage: "00000000-0000-4000-8000-00000000e1e1",
    outputs: {},
    resources: [...groups.values()].map((instances) => ({
      mode: "managed",
      type: instances[0]!.type,
      name: instances[0]!.name,
      provider: `provider["${o.provider}"]`,
      instances: instances.map((r) => {
        const attributes: Record<string, unknown> = { ...r.change.after, id: String(++id) };
        if (r.type === "digitalocean_vpc") attributes.id = vpcId;
        if (r.type === "digitalocean_tag") attributes.id = attributes.name;
        if (r.type === "digitalocean_ssh_key") attributes.fingerprint = o.fingerprint;
        if (r.type === "digitalocean_droplet") {
          attributes.vpc_uuid = vpcId;
          attributes.ssh_keys = [o.fingerprint];
          attributes.volume_ids = [];
        }
        return {
          ...(r.index !== undefined ? { index_key: r.index } : {}),
          schema_version: o.versionOf(r.type),
          attributes,
          sensitive_attributes: [],
        };
      }),
    })),
  };
}

async function docker(args: string[]): Promise<{ exitCode: number; stdout: string }> {
  const r = await execa("docker", args, { reject: false, timeout: 60_000 });
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout) };
}

/** Names of what is labelled with the target, by kind. */
async function labelled(target: string): Promise<Record<string, string[]>> {
  const filter = ["--filter", `label=elm-infra.target=${target}`];
  const list = async (args: string[]) =>
    (await docker(args)).stdout.split("\n").filter((l) => l.trim() !== "");
  return {
    containers: await list(["ps", "-a", "--format", "{{.Names}}", ...filter]),
    networks: await list(["network", "ls", "--format", "{{.Name}}", ...filter]),
    volumes: await list(["volume", "ls", "--format", "{{.Name}}", ...filter]),
  };
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createTcpServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () =>
      server.close(() => resolve(true)),
    );
  });
}

/** A base for the hosts' SSH ports whose ports for these hosts are free right now. */
async function freeSshBase(offsets: number[]): Promise<number> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const base = randomInt(20_000, 40_000);
    const free = await Promise.all(offsets.map((o) => portFree(base + o)));
    if (free.every(Boolean)) return base;
  }
  throw new Error("no free SSH port range");
}

/** Status and body of a GET through the load balancer; 0 when nothing answered. */
async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: "" };
  }
}

/** Polls (bounded) until `ok` holds for a response; returns the last one. */
async function getUntil(
  url: string,
  ok: (r: { status: number; body: string }) => boolean,
  attempts = 60,
): Promise<{ status: number; body: string }> {
  let last = { status: 0, body: "" };
  for (let i = 0; i < attempts; i++) {
    last = await get(url);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  return last;
}

/** The first line sshd sends on the loopback port, within a few bounded attempts. */
async function sshBanner(port: number): Promise<string> {
  for (let attempt = 0; attempt < 40; attempt++) {
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

/** The parts of `docker inspect` the test reads. */
interface ContainerInfo {
  Id: string;
  State: { Running: boolean };
  Config: { Labels: Record<string, string>; StopSignal?: string };
  HostConfig: {
    CapAdd: string[];
    CapDrop: string[];
    SecurityOpt: string[];
    CgroupnsMode: string;
    DeviceCgroupRules?: string[] | null;
    Tmpfs?: Record<string, string>;
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> | null;
  };
  Mounts: Array<{ Type: string; Name?: string; Destination: string }>;
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Aliases: string[] | null }> };
}

async function inspect(container: string): Promise<ContainerInfo> {
  const r = await docker(["inspect", container]);
  expect(r.exitCode, `docker inspect ${container}`).toBe(0);
  return (JSON.parse(r.stdout) as [ContainerInfo])[0];
}

describe.skipIf(dockerSkip)("iac/local: named hosts and the load balancer", () => {
  const name = `eit-${randomBytes(3).toString("hex")}`;
  // The real host image when images/base/build.sh has made it, else busybox (no sshd).
  const image =
    process.env.ELM_INFRA_TEST_HOST_IMAGE ??
    (hostImagePresent ? "elm-infra/host:latest" : "elm-infra/tiny:latest");
  const tiny = image.includes("tiny");
  // A subnet of its own, so the run never meets the local target or another run.
  const subnet = `10.${randomInt(220, 250)}.${randomInt(0, 256)}.0/24`;
  let root: string;

  afterAll(async () => {
    // Whatever the test left behind, by the label the module gives everything.
    const left = await labelled(name);
    if (left.containers!.length > 0) await docker(["rm", "-f", "-v", ...left.containers!]);
    for (const network of left.networks!) await docker(["network", "rm", network]);
    if (left.volumes!.length > 0) await docker(["volume", "rm", "-f", ...left.volumes!]);
    if (root) await detachVolumes(root, name);
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** A web server in a host answering on 80, 443 (plain HTTP: 443 is passed through) and 8082. */
  async function serve(host: string): Promise<void> {
    const files = `echo "${host}" > WWW/index.html && echo OK > WWW/ping`;
    if (tiny) {
      await docker(["exec", host, "sh", "-c", files.replaceAll("WWW", "/www")]);
      for (const port of ["80", "443", "8082"]) {
        expect((await docker(["exec", host, "httpd", "-p", port, "-h", "/www"])).exitCode).toBe(0);
      }
      return;
    }
    // Not under /tmp: a host still booting may mount a tmpfs over it.
    const www = "/opt/elm-infra-test-www";
    await docker(["exec", host, "sh", "-c", `mkdir -p ${www} && ${files.replaceAll("WWW", www)}`]);
    for (const port of ["80", "443", "8082"]) {
      const args = ["python3", "-m", "http.server", port, "--directory", www];
      expect((await docker(["exec", "-d", host, ...args])).exitCode).toBe(0);
    }
  }

  it("hosts at their planned addresses, a load balancer that finds healthy workers, the hostnames' records in the test DNS, nothing to change on a second plan, a worker added or removed alone, nothing left after destroy", async () => {
    const sites = ["elm-lang.org", "www.elm-lang.org"];
    root = await mkdtemp(join(tmpdir(), "elm-infra-tf-local-"));
    const [httpPort, httpsPort, registryPort, dnsPort] = (await freePorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const sshBase = await freeSshBase([11, 101, 102, 103]);
    const registryIp = localNetwork(subnet).registryIp;
    const target = (workers: number) =>
      baseTarget({
        provider: "local",
        region: "local",
        image,
        managers: 1,
        workers,
        registry: { push: `127.0.0.1:${registryPort}`, pull: `${registryIp}:5000` },
        ports: { http: httpPort, https: httpsPort, ssh: sshBase, dns: dnsPort },
        network: { subnet },
      });
    const extraVars: TfVarSet = tiny
      ? { command: ["/bin/sleep", "86400"], stop_signal: "SIGKILL" }
      : {};
    const open = (workers: number, remove?: string[]) =>
      prepareTerraform(loaded(root, name, target(workers), undefined, sites), {
        sshPublicKey: fakeKey,
        extraVars,
        ...(remove ? { remove } : {}),
      });

    // 1 manager + 2 workers.
    const first = await open(2);
    expect(first.hostPlan.created).toEqual([
      `${name}-manager-1`,
      `${name}-worker-1`,
      `${name}-worker-2`,
    ]);
    const plan = await first.tf.plan();
    // network, 3 engine volumes, 3 hosts, the load balancer, Pebble and its DNS (the local ACME
    // CA), the agents' apt repository, the registry and its volume, the package data volume and
    // its attachment, the 2 workers' device folders, and the two hostnames' records in that DNS
    expect(plan.changes).toEqual({ add: 19, change: 0, remove: 0 });
    await first.tf.apply(plan.planFile);

    // The test DNS, on loopback, answers the sites' hostnames with the load balancer's address
    // on the network (the records OpenTofu made), and nothing for any other name.
    const lbIp = localNetwork(subnet).loadBalancerIp;
    expect((await first.tf.outputs()).dns).toEqual({ address: lbIp });
    const answers = await lookUpAddresses(
      [`127.0.0.1:${dnsPort}`],
      [...sites, "guide.elm-lang.org"],
    );
    expect(answers.map((a) => [a.hostname, a.a, a.aaaa])).toEqual([
      ["elm-lang.org", [lbIp], []],
      ["www.elm-lang.org", [lbIp], []],
      ["guide.elm-lang.org", [], []],
    ]);

    const inventory = inventoryFromOutputs(name, await first.tf.outputs());
    expect(inventory.loadBalancer).toEqual({ host: "127.0.0.1", httpPort, httpsPort });
    const ids: Record<string, string> = {};
    for (const host of first.hostPlan.hosts) {
      const planned = localAddress(host, subnet, sshBase);
      expect(inventory.hosts.find((h) => h.name === host.name)).toEqual({
        name: host.name,
        role: host.role,
        privateAddress: planned.privateIp,
        ssh: { host: "127.0.0.1", port: planned.sshPort },
      });
      const info = await inspect(host.name);
      ids[host.name] = info.Id;
      expect(info.State.Running).toBe(true);
      expect(info.Config.Labels["elm-infra.target"]).toBe(name);
      expect(info.HostConfig.PortBindings).toEqual({
        "22/tcp": [{ HostIp: "127.0.0.1", HostPort: String(planned.sshPort) }],
      });
      const net = info.NetworkSettings.Networks[`${name}-net`];
      expect(net?.IPAddress).toBe(planned.privateIp);
      const mounts = info.Mounts.filter((m) => m.Type === "volume").map((m) => [
        m.Name,
        m.Destination,
      ]);
      if (host.role === "worker") {
        expect(net?.Aliases).toContain(`${name}-workers`);
        // The package data volume is a block device given to a running worker, not a mount.
        expect(info.HostConfig.DeviceCgroupRules).toEqual(["b 7:* rwm"]);
        expect(mounts).toContainEqual([`${host.name}-devices`, "/dev/disk/by-id"]);
      } else {
        expect(net?.Aliases ?? []).not.toContain(`${name}-workers`);
      }
      expect(mounts).toContainEqual([`${host.name}-docker`, "/var/lib/docker"]);
      // What systemd and the nested engine need, without --privileged.
      expect(info.HostConfig.CapAdd).toContain("ALL");
      expect(info.HostConfig.CapDrop.map((c) => c.replace(/^CAP_/, ""))).toEqual(["SYS_RESOURCE"]);
      expect(info.HostConfig.SecurityOpt).toEqual(
        expect.arrayContaining(["seccomp=unconfined", "apparmor=unconfined"]),
      );
      expect(info.HostConfig.CgroupnsMode).toBe("host");
      expect(Object.keys(info.HostConfig.Tmpfs ?? {}).sort()).toEqual(["/run", "/run/lock"]);
      const keys = await docker(["exec", host.name, "cat", "/root/.ssh/authorized_keys"]);
      expect(keys.stdout.trim()).toBe(fakeKey);
      if (!tiny) expect(await sshBanner(planned.sshPort)).toMatch(/^SSH-2\.0-/);
    }
    // The agents' signed apt repository: on the network at its fixed address, not published.
    const apt = await inspect(`${name}-apt`);
    const aptIp = localNetwork(subnet).aptIp;
    expect(apt.NetworkSettings.Networks[`${name}-net`]?.IPAddress).toBe(aptIp);
    expect(apt.HostConfig.PortBindings ?? {}).toEqual({});
    expect((await first.tf.outputs()).apt).toEqual({
      url: `http://${aptIp}`,
      container: `${name}-apt`,
    });
    const release = await getUntil(
      `http://${aptIp}/dists/bookworm/InRelease`,
      (r) => r.status === 200,
    );
    expect(release.body).toMatch(/^-----BEGIN PGP SIGNED MESSAGE-----/);
    expect(release.body).toMatch(/main\/binary-amd64\/Packages/);
    expect((await get(`http://${aptIp}/gpg`)).body).toMatch(
      /^-----BEGIN PGP PUBLIC KEY BLOCK-----/,
    );

    const lb = await inspect(`${name}-lb`);
    // docker stop is HAProxy's soft stop: open connections finish first.
    expect(lb.Config.StopSignal).toBe("SIGUSR1");
    expect(lb.HostConfig.PortBindings).toEqual({
      "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(httpPort) }],
      "443/tcp": [{ HostIp: "127.0.0.1", HostPort: String(httpsPort) }],
    });

    // The registry: at cidrhost 5 for the workers, on loopback for this machine, its data in a
    // volume; it makes its CA and answers only with credentials (none are set yet).
    const registry = await inspect(`${name}-registry`);
    expect(registry.Config.Labels["elm-infra.role"]).toBe("registry");
    expect(registry.NetworkSettings.Networks[`${name}-net`]?.IPAddress).toBe(registryIp);
    expect(registry.HostConfig.PortBindings).toEqual({
      "5000/tcp": [{ HostIp: "127.0.0.1", HostPort: String(registryPort) }],
    });
    expect(registry.Mounts.map((m) => [m.Name, m.Destination])).toContainEqual([
      `${name}-registry`,
      "/var/lib/docker-registry",
    ]);
    let anonymous = 0;
    for (let i = 0; i < 60 && anonymous === 0; i++) {
      const ca = await docker([
        "exec",
        `${name}-registry`,
        "cat",
        "/var/lib/docker-registry/tls/ca.pem",
      ]);
      anonymous =
        ca.exitCode !== 0
          ? 0
          : await request(`https://127.0.0.1:${registryPort}/v2/`, {
              dispatcher: new Agent({ connect: { ca: ca.stdout } }),
              headersTimeout: 3_000,
            }).then(
              async (r) => (await r.body.dump(), r.statusCode),
              () => 0,
            );
      if (anonymous === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(anonymous).toBe(401);

    // No Traefik yet: the load balancer answers, with no healthy worker behind it.
    const web = `http://127.0.0.1:${httpPort}/`;
    expect((await getUntil(web, (r) => r.status !== 0)).status).toBe(503);
    // A worker whose ping answers takes traffic, on 80 and passed through on 443.
    await serve(`${name}-worker-2`);
    expect(await getUntil(web, (r) => r.status === 200)).toEqual({
      status: 200,
      body: `${name}-worker-2\n`,
    });
    // 443's backend checks the worker on its own (rise 2, a second apart): it may come a moment later.
    expect((await getUntil(`http://127.0.0.1:${httpsPort}/`, (r) => r.status === 200)).body).toBe(
      `${name}-worker-2\n`,
    );
    // The admin socket takes a worker out (maintenance) and back, found by its address.
    const admin = async (command: string) =>
      (
        await docker([
          "exec",
          `${name}-lb`,
          "sh",
          "-c",
          `echo "${command}" | socat stdio /run/haproxy-admin.sock`,
        ])
      ).stdout;
    const worker2 = localAddress({ name: "w", role: "worker", n: 2 }, subnet, sshBase).privateIp;
    const slot = (await admin("show servers state web"))
      .split("\n")
      .map((line) => line.split(" "))
      .find((fields) => fields[4] === worker2)?.[3];
    expect(slot).toMatch(/^worker\d+$/);
    await admin(`set server web/${slot} state maint`);
    expect((await get(web)).status).toBe(503);
    await admin(`set server web/${slot} state ready`);
    expect((await getUntil(web, (r) => r.status === 200)).body).toBe(`${name}-worker-2\n`);

    // The package data volume: a block device in its holder (the lowest worker), bytes written
    // there are read in the next holder once package_data_host moves it, and the old holder
    // keeps no device of it.
    const device = `/dev/disk/by-id/elm-infra-${name}-package-data`;
    const [holder1, holder2] = [`${name}-worker-1`, `${name}-worker-2`];
    expect(inventory.packageDataHost).toBe(holder1);
    expect(inventory.packageDataDevice).toBe(device);
    const stamp = `elm-infra ${Date.now()}`;
    const written = await docker([
      "exec",
      holder1,
      "sh",
      "-c",
      `printf '${stamp}' | dd of=${device} conv=notrunc,fsync 2>&1`,
    ]);
    expect(written.exitCode, written.stdout).toBe(0);
    expect((await docker(["exec", holder2, "test", "-b", device])).exitCode).not.toBe(0);
    const moved = await prepareTerraform(loaded(root, name, target(2)), {
      sshPublicKey: fakeKey,
      extraVars,
      packageDataHost: holder2,
    });
    const move = await moved.tf.plan({ targets: ["terraform_data.package_data_attachment"] });
    const moveShown = (await moved.tf.showPlan(move.planFile)) as {
      resource_changes: PlannedResource[];
    };
    expect(
      moveShown.resource_changes
        .filter((r) => r.change.actions.join() !== "no-op")
        .map((r) => `${r.change.actions.join()} ${r.address}`),
    ).toEqual(["delete,create terraform_data.package_data_attachment[0]"]);
    await moved.tf.apply(move.planFile);
    expect(inventoryFromOutputs(name, await moved.tf.outputs()).packageDataHost).toBe(holder2);
    const read = await docker([
      "exec",
      holder2,
      "sh",
      "-c",
      `dd if=${device} bs=${stamp.length} count=1 2>/dev/null`,
    ]);
    expect(read.stdout).toBe(stamp);
    // A restarted holder (a reboot) still has its volume's device, as a droplet has.
    await docker(["restart", holder2]);
    const afterRestart = await docker([
      "exec",
      holder2,
      "sh",
      "-c",
      `dd if=${device} bs=${stamp.length} count=1 2>/dev/null`,
    ]);
    expect(afterRestart.stdout).toBe(stamp);
    expect((await docker(["exec", holder1, "test", "-e", device])).exitCode).not.toBe(0);
    const volumeFile = join(root, ".elm-infra", name, "volumes", "package-data.img");
    expect((await stat(volumeFile)).isFile()).toBe(true);

    // The same configuration again: nothing to do (no attribute drifts from what Docker reports).
    const again = await open(2);
    expect(again.hostPlan.created).toEqual([]);
    expect((await again.tf.plan()).hasChanges).toBe(false);
    await again.tf.discardPlan();

    // One more worker: only creates, the other hosts and the load balancer stay as they are.
    const second = await open(3);
    expect(second.hostPlan.created).toEqual([`${name}-worker-3`]);
    const grow = await second.tf.plan();
    expect(grow.changes).toEqual({ add: 3, change: 0, remove: 0 });
    const shown = (await second.tf.showPlan(grow.planFile)) as {
      resource_changes: PlannedResource[];
    };
    const acting = shown.resource_changes.filter((r) => r.change.actions.join() !== "no-op");
    expect(acting.map((r) => `${r.change.actions.join()} ${r.address}`).sort()).toEqual(
      [
        `create docker_container.host["${name}-worker-3"]`,
        `create docker_volume.docker_data["${name}-worker-3"]`,
        `create docker_volume.devices["${name}-worker-3"]`,
      ].sort(),
    );
    await second.tf.apply(grow.planFile);
    for (const [host, id] of Object.entries(ids)) expect((await inspect(host)).Id).toBe(id);
    expect((await inspect(`${name}-lb`)).Id).toBe(lb.Id);
    const third = localAddress({ name: `${name}-worker-3`, role: "worker", n: 3 }, subnet, sshBase);
    expect(
      (await inspect(`${name}-worker-3`)).NetworkSettings.Networks[`${name}-net`]?.IPAddress,
    ).toBe(third.privateIp);
    // The load balancer finds the new worker through DNS, without a change of its own.
    await serve(`${name}-worker-3`);
    expect((await getUntil(web, (r) => r.body === `${name}-worker-3\n`, 80)).body).toBe(
      `${name}-worker-3\n`,
    );

    // Back to two workers, worker-1 named: only its container and volumes go, worker-3 keeps its
    // number and address.
    const shrink = await open(2, [`${name}-worker-1`]);
    expect(shrink.hostPlan.removed).toEqual([`${name}-worker-1`]);
    const fewer = await shrink.tf.plan();
    expect(fewer.changes).toEqual({ add: 0, change: 0, remove: 3 });
    await shrink.tf.apply(fewer.planFile);
    expect((await inspect(`${name}-worker-2`)).Id).toBe(ids[`${name}-worker-2`]);
    expect((await docker(["inspect", `${name}-worker-1`])).exitCode).not.toBe(0);
    expect(inventoryFromOutputs(name, await shrink.tf.outputs()).hosts.map((h) => h.name)).toEqual([
      `${name}-manager-1`,
      `${name}-worker-2`,
      `${name}-worker-3`,
    ]);

    // Destroy leaves nothing with the target's label, and the volume's file and loop device go.
    const destroyed = await shrink.tf.destroy();
    // The resources, the volume and its attachment, and the two records (each deleted from the
    // test DNS on the way).
    expect(destroyed.remove).toBe(19);
    expect(await labelled(name)).toEqual({ containers: [], networks: [], volumes: [] });
    await expect(stat(volumeFile)).rejects.toThrow(/ENOENT/);
    expect((await execa("losetup", ["-j", volumeFile])).stdout).toBe("");
  });
});

/** A README section: from its heading to the next heading of its level or above. */
function sectionOf(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const level = heading.indexOf(" ");
  const rest = markdown.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The lines of a section's ```sh blocks, in order. */
function shellCommands(section: string): string[] {
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap(([, block]) =>
    block!
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== ""),
  );
}

/** The command and options elm-infra's parser makes of `argv`; nothing runs. */
async function parseCommand(argv: string[]): Promise<{ name: string; options: GlobalOptions }> {
  let parsed: { name: string; options: GlobalOptions } | undefined;
  const program = buildProgram(async (name, options) => {
    parsed = { name, options };
  });
  for (const command of [program, ...program.commands]) {
    command.exitOverride();
    command.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  }
  await program.parseAsync(argv, { from: "user" });
  if (!parsed) throw new Error(`elm-infra ran no command for: ${argv.join(" ")}`);
  return parsed;
}
