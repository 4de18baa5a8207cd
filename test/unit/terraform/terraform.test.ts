import { describe, expect, it } from "vitest";
import type { Target } from "../../../src/config/schema.js";
import { ConfigError } from "../../../src/errors.js";
import {
  applyArgs,
  destroyArgs,
  initArgs,
  outputArgs,
  planArgs,
  showPlanArgs,
  statePullArgs,
} from "../../../src/terraform/args.js";
import { chooseBinary, findCliConfig, searchDirs } from "../../../src/terraform/binary.js";
import {
  describeEvent,
  parseUiLine,
  summarizeDiagnostics,
  type TerraformEvent,
} from "../../../src/terraform/events.js";
import { errorLines, workDirFor } from "../../../src/terraform/runner.js";
import { md5Fingerprint, moduleDirFor, secretVarEnv } from "../../../src/terraform/vars.js";
import { hostsInState } from "../../../src/terraform/state.js";
import { parseClusterOutputs } from "../../../src/terraform/outputs.js";
import { renderBackend, renderStoreBackend } from "../../../src/terraform/backend.js";
import { planHosts } from "../../../src/plan/hosts.js";
import { planVarSet } from "../../../src/plan/tfvars.js";
import { dnsRecords } from "../../../src/plan/dns.js";
import { inventoryFromOutputs } from "../../../src/cluster/terraform.js";

const key =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkz0rWmK0a4ZlQz8mV1hUY5Gm1tHq9bkJ0o3dW5Xyzz ops@elm";

function target(over: Partial<Target> = {}): Target {
  return {
    provider: "digitalocean",
    region: "fra1",
    sizes: { manager: "s-1vcpu-2gb", worker: "s-2vcpu-4gb" },
    image: "debian-12-x64",
    managers: 3,
    workers: 2,
    domains: {},
    ssh: {
      user: "root",
      port: 22,
      privateKey: "secrets/id_ed25519",
      knownHosts: ".elm-infra/known_hosts",
    },
    registry: "registry.digitalocean.com/elm",
    ports: { http: 8080, https: 8443, ssh: 2200 },
    ...over,
  };
}

describe("argv builders", () => {
  it.each([
    ["init", initArgs(), ["init", "-input=false", "-no-color"]],
    [
      "init -upgrade",
      initArgs({ upgrade: true }),
      ["init", "-input=false", "-no-color", "-upgrade"],
    ],
    [
      "plan",
      planArgs(),
      [
        "plan",
        "-input=false",
        "-json",
        "-detailed-exitcode",
        "-out=elm-infra.tfplan",
        "-var-file=elm-infra.tfvars.json",
      ],
    ],
    [
      "plan -destroy",
      planArgs({ destroy: true, planFile: "d.tfplan", varFile: "v.json" }),
      [
        "plan",
        "-input=false",
        "-json",
        "-detailed-exitcode",
        "-out=d.tfplan",
        "-var-file=v.json",
        "-destroy",
      ],
    ],
    [
      "plan against the state as recorded",
      planArgs({ refresh: false }),
      [
        "plan",
        "-input=false",
        "-json",
        "-detailed-exitcode",
        "-out=elm-infra.tfplan",
        "-var-file=elm-infra.tfvars.json",
        "-refresh=false",
      ],
    ],
    ["apply", applyArgs(), ["apply", "-input=false", "-json", "elm-infra.tfplan"]],
    ["apply file", applyArgs("x.tfplan"), ["apply", "-input=false", "-json", "x.tfplan"]],
    [
      "destroy",
      destroyArgs(),
      ["destroy", "-input=false", "-json", "-auto-approve", "-var-file=elm-infra.tfvars.json"],
    ],
    ["output", outputArgs(), ["output", "-json"]],
    ["show", showPlanArgs(), ["show", "-json", "elm-infra.tfplan"]],
    ["state pull", statePullArgs(), ["state", "pull"]],
  ])("%s", (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it("never puts a variable value in argv", () => {
    for (const args of [planArgs(), destroyArgs(), applyArgs()]) {
      expect(args.some((a) => a.startsWith("-var=") || a === "-var")).toBe(false);
    }
  });
});

describe("planVarSet", () => {
  const hostnames = ["elm-lang.org", "www.elm-lang.org"];
  const records = hostnames.map((h) => ({ hostname: h, type: "A" as const, name: h }));
  const local = target({
    provider: "local",
    region: "local",
    image: "elm-infra/host:latest",
    managers: 1,
    workers: 2,
    ports: { http: 18080, https: 18443, ssh: 2200 },
    registry: { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" },
  });
  const admin = { adminCidrs: ["203.0.113.0/24"] };

  it("puts every listed operator's SSH key on the hosts' first boot, the target's own key once", () => {
    const plan = planHosts({ target: "production", managers: 1, workers: 2, existing: [] });
    const other =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ9m1tHq9bkJ0o3dW5XyzzHkz0rWmK0a4ZlQz8mV1hUY5 b@x";
    const vars = planVarSet(
      "production",
      target({
        ...admin,
        operators: [
          { name: "ann", ageRecipient: "age1" + "q".repeat(58), sshKey: key },
          { name: "bo", ageRecipient: "age1" + "p".repeat(58), sshKey: other },
        ],
      } as Partial<Target>),
      plan,
      { sshPublicKey: key, dnsRecords: records },
    );
    expect(vars.operator_ssh_keys).toEqual([
      `${other.split(" ").slice(0, 2).join(" ")} elm-infra operator bo`,
    ]);
  });

  it("maps a digitalocean target and its named hosts to the module's variables", () => {
    const plan = planHosts({ target: "production", managers: 3, workers: 2, existing: [] });
    expect(
      planVarSet("production", target(admin), plan, {
        sshPublicKey: `${key}\n`,
        dnsRecords: records,
      }),
    ).toEqual({
      name: "production",
      region: "fra1",
      image: "debian-12-x64",
      manager_size: "s-1vcpu-2gb",
      worker_size: "s-2vcpu-4gb",
      ssh_public_key: key,
      operator_ssh_keys: [],
      ssh_port: 22,
      ssh_key_fingerprint: null,
      admin_cidrs: ["203.0.113.0/24"],
      hosts: {
        "production-manager-1": { role: "manager" },
        "production-manager-2": { role: "manager" },
        "production-manager-3": { role: "manager" },
        "production-worker-1": { role: "worker" },
        "production-worker-2": { role: "worker" },
      },
      package_data_host: "production-worker-1",
      // No dns.zone: the user makes the records, OpenTofu none.
      dns_zone: null,
      dns_records: {},
    });
  });

  it("dns.zone: every hostname's record named inside the zone (the apex as @)", () => {
    const plan = planHosts({ target: "production", managers: 1, workers: 1, existing: [] });
    const zoned = target({ ...admin, dns: { zone: "elm-lang.org" } });
    const config = { target: zoned, services: { site: { hostnames: hostnames } } } as never;
    expect(
      planVarSet("production", zoned, plan, { sshPublicKey: key, dnsRecords: dnsRecords(config) }),
    ).toMatchObject({
      dns_zone: "elm-lang.org",
      dns_records: { "elm-lang.org": "@", "www.elm-lang.org": "www" },
    });
  });

  it("an SSH key already on the account: named by its MD5 fingerprint, checked against the key", () => {
    // ssh-keygen -E md5 -lf of this key line: MD5:ba:d9:f5:9e:1a:f8:59:a5:9c:3f:a4:f4:4a:a9:99:cc
    const onAccount =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH/UfSWmN9GNAWJiHoFdERpXTngF5aSn5ILLP39rIwZk ops@elm";
    const fingerprint = "ba:d9:f5:9e:1a:f8:59:a5:9c:3f:a4:f4:4a:a9:99:cc";
    expect(md5Fingerprint(onAccount)).toBe(fingerprint);
    const plan = planHosts({ target: "production", managers: 1, workers: 1, existing: [] });
    const named = target({
      ...admin,
      ssh: { ...target().ssh, accountKeyFingerprint: fingerprint },
    });
    expect(
      planVarSet("production", named, plan, { sshPublicKey: onAccount, dnsRecords: records }),
    ).toMatchObject({
      ssh_key_fingerprint: fingerprint,
    });
    // Another key than the one named: refused before OpenTofu runs, with the right fingerprint.
    expect(() =>
      planVarSet("production", named, plan, { sshPublicKey: key, dnsRecords: records }),
    ).toThrow(
      /ssh\.accountKeyFingerprint: is not the fingerprint of .*\.pub \(that key's is [0-9a-f:]{47}\)/,
    );
  });

  it("passes the VPC range and tags when given", () => {
    const plan = planHosts({ target: "production", managers: 1, workers: 1, existing: [] });
    const vars = planVarSet(
      "production",
      target({ ...admin, network: { subnet: "10.120.0.0/20" } }),
      plan,
      { sshPublicKey: key, tags: ["team:ops"], dnsRecords: records },
    );
    expect(vars.vpc_cidr).toBe("10.120.0.0/20");
    expect(vars.tags).toEqual(["team:ops"]);
  });

  it("maps a local target: each host its static address and loopback SSH port", () => {
    const plan = planHosts({ target: "local", managers: 1, workers: 2, existing: [] });
    const aptRepositoryPath = "/root/.cache/elm-infra/apt/repo/nomad-1.10.5-consul-1.22.0";
    expect(
      planVarSet("local", local, plan, {
        sshPublicKey: key,
        aptRepositoryPath,
        dnsRecords: records,
      }),
    ).toEqual({
      name: "local",
      image: "elm-infra/host:latest",
      ssh_public_key: key,
      operator_ssh_keys: [],
      hosts: {
        "local-manager-1": { role: "manager", ssh_port: 2211, private_ip: "10.213.0.11" },
        "local-worker-1": { role: "worker", ssh_port: 2301, private_ip: "10.213.0.101" },
        "local-worker-2": { role: "worker", ssh_port: 2302, private_ip: "10.213.0.102" },
      },
      network_subnet: "10.213.0.0/24",
      network_ip_range: "10.213.0.224/27",
      lb_private_ip: "10.213.0.2",
      pebble_private_ip: "10.213.0.3",
      acme_dns_private_ip: "10.213.0.4",
      apt_private_ip: "10.213.0.6",
      apt_repository_path: aptRepositoryPath,
      acme_certificate_lifetime: 3600,
      http_port: 18080,
      https_port: 18443,
      registry_private_ip: "10.213.0.5",
      registry_port: 15000,
      // The volume's holder, by the same variable as on DigitalOcean: the lowest worker at first.
      package_data_host: "local-worker-1",
      // The test DNS on loopback, and the hostnames whose records OpenTofu makes there.
      dns_port: 8053,
      dns_hostnames: hostnames,
    });
  });

  it.each([
    [
      "a pull address elsewhere than cidrhost 5",
      { push: "127.0.0.1:15000", pull: "10.213.0.9:5000" },
    ],
    ["a push address off loopback", { push: "10.0.0.1:15000", pull: "10.213.0.5:5000" }],
    ["no registry", "none"],
    ["one address for both", "registry.digitalocean.com/elm"],
  ] as const)("refuses a local target's registry with %s, saying what to write", (_w, registry) => {
    const plan = planHosts({ target: "local", managers: 1, workers: 1, existing: [] });
    expect(() =>
      planVarSet("local", target({ ...local, registry }), plan, {
        sshPublicKey: key,
        aptRepositoryPath: "/apt",
        dnsRecords: records,
      }),
    ).toThrow(
      /targets\.local\.registry: the local target runs its own registry: it must be \{ push: 127\.0\.0\.1:<port>, pull: 10\.213\.0\.5:5000 \}/,
    );
  });

  it.each([
    ["a worker is added", 1, 3, ["local-worker-3"]],
    ["a worker is removed", 1, 1, []],
    ["managers are added", 3, 2, ["local-manager-2", "local-manager-3"]],
  ])("the other hosts' variables stay when %s", (_what, managers, workers, created) => {
    const subnetted = target({
      ...local,
      network: { subnet: "10.50.0.0/24" },
      registry: { push: "127.0.0.1:15000", pull: "10.50.0.5:5000" },
    });
    const before = planHosts({ target: "local", managers: 1, workers: 2, existing: [] });
    const after = planHosts({
      target: "local",
      managers,
      workers,
      existing: before.hosts.map((h) => h.name),
    });
    expect(after.created).toEqual(created);
    const hostsOf = (plan: typeof before) =>
      planVarSet("local", subnetted, plan, {
        sshPublicKey: key,
        aptRepositoryPath: "/apt",
        dnsRecords: records,
      }).hosts as Record<string, unknown>;
    const [old, next] = [hostsOf(before), hostsOf(after)];
    for (const name of after.kept) expect(next[name]).toEqual(old[name]);
  });

  it("reports every problem at once, adminCidrs included", () => {
    const plan = planHosts({ target: "prod", managers: 1, workers: 1, existing: [] });
    const bad = () =>
      planVarSet("prod.eu", target(), plan, { sshPublicKey: "not a key", dnsRecords: [] });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (e) {
      const problems = (e as ConfigError).problems;
      expect(problems.map((p) => p.path)).toEqual([
        "targets.prod.eu",
        "",
        "targets.prod.eu.adminCidrs",
      ]);
      expect(problems[1]?.file).toBe("secrets/id_ed25519.pub");
      expect(problems[2]?.message).toMatch(
        /required for a digitalocean target \(or an operator's adminCidr\)/,
      );
    }
  });

  it.each([
    ["adminCidrs alone", { adminCidrs: ["203.0.113.0/24"] }, ["203.0.113.0/24"]],
    [
      "adminCidrs and each operator's adminCidr, once each",
      {
        adminCidrs: ["203.0.113.0/24"],
        operators: [
          { name: "ada", ageRecipient: "age1x", adminCidr: "198.51.100.7/32" },
          { name: "ci", ageRecipient: "age1y" },
          { name: "bob", ageRecipient: "age1z", adminCidr: ["198.51.100.8/32", "203.0.113.0/24"] },
        ],
      },
      ["203.0.113.0/24", "198.51.100.7/32", "198.51.100.8/32"],
    ],
    [
      "the operators' alone",
      { operators: [{ name: "ada", ageRecipient: "age1x", adminCidr: "198.51.100.7/32" }] },
      ["198.51.100.7/32"],
    ],
  ])("lets through the cloud firewall's SSH rule: %s", (_what, access, expected) => {
    const plan = planHosts({ target: "production", managers: 1, workers: 1, existing: [] });
    const vars = planVarSet("production", target(access), plan, {
      sshPublicKey: key,
      dnsRecords: [],
    });
    expect(vars.admin_cidrs).toEqual(expected);
  });

  it("knows each provider's module", () => {
    expect(moduleDirFor("digitalocean")).toBe("iac/digitalocean");
    expect(moduleDirFor("local")).toBe("iac/local");
  });
});

describe("hostsInState", () => {
  const droplet = (name: string, id: string) => ({ index_key: name, attributes: { id } });
  it.each<[string, unknown, ReturnType<typeof hostsInState>]>([
    ["no state yet", undefined, { names: [] }],
    ["an empty state", { version: 4, resources: [] }, { names: [] }],
    [
      "local host containers, not the load balancer or volumes",
      {
        version: 4,
        resources: [
          { mode: "managed", type: "docker_network", name: "cluster", instances: [{}] },
          {
            mode: "managed",
            type: "docker_container",
            name: "host",
            instances: [{ index_key: "t-manager-1" }, { index_key: "t-worker-2" }],
          },
          { mode: "managed", type: "docker_container", name: "lb", instances: [{}] },
          {
            mode: "managed",
            type: "docker_volume",
            name: "docker_data",
            instances: [{ index_key: "t-manager-1" }],
          },
        ],
      },
      { names: ["t-manager-1", "t-worker-2"] },
    ],
    [
      "droplets and the worker the volume is attached to",
      {
        version: 4,
        resources: [
          {
            mode: "managed",
            type: "digitalocean_droplet",
            name: "host",
            instances: [
              droplet("t-manager-1", "11"),
              droplet("t-worker-1", "12"),
              droplet("t-worker-2", "13"),
            ],
          },
          {
            mode: "managed",
            type: "digitalocean_volume_attachment",
            name: "package_data",
            instances: [{ attributes: { droplet_id: 13, volume_id: "v" } }],
          },
          {
            mode: "data",
            type: "digitalocean_droplet",
            name: "host",
            instances: [droplet("x", "1")],
          },
        ],
      },
      { names: ["t-manager-1", "t-worker-1", "t-worker-2"], packageDataHost: "t-worker-2" },
    ],
    [
      "local hosts and the worker the volume's stand-in is attached to (as OpenTofu keeps terraform_data's input)",
      {
        version: 4,
        resources: [
          {
            mode: "managed",
            type: "docker_container",
            name: "host",
            instances: [{ index_key: "t-worker-1" }, { index_key: "t-worker-3" }],
          },
          {
            mode: "managed",
            type: "terraform_data",
            name: "package_data_attachment",
            instances: [
              {
                index_key: 0,
                attributes: {
                  input: { value: { host: "t-worker-3", device: "/dev/x" }, type: ["object", {}] },
                },
              },
            ],
          },
        ],
      },
      { names: ["t-worker-1", "t-worker-3"], packageDataHost: "t-worker-3" },
    ],
  ])("%s", (_what, state, expected) => {
    expect(hostsInState(state)).toEqual(expected);
  });
});

describe("parseClusterOutputs", () => {
  const good = {
    hosts: {
      "t-manager-1": {
        role: "manager",
        private_ip: "10.213.0.11",
        ssh_host: "127.0.0.1",
        ssh_port: 2211,
      },
    },
    load_balancer: { host: "127.0.0.1", http_port: 18080, https_port: 18443 },
  };
  it("types the hosts and the load balancer", () => {
    expect(parseClusterOutputs(good)).toEqual({
      hosts: {
        "t-manager-1": {
          role: "manager",
          privateIp: "10.213.0.11",
          sshHost: "127.0.0.1",
          sshPort: 2211,
        },
      },
      loadBalancer: { host: "127.0.0.1", httpPort: 18080, httpsPort: 18443 },
    });
  });
  it("types the package data volume's holder and device; none before a worker exists", () => {
    const device = "/dev/disk/by-id/scsi-0DO_Volume_t-package-data";
    expect(
      parseClusterOutputs({ ...good, package_data: { host: "t-worker-2", device } }).packageData,
    ).toEqual({ host: "t-worker-2", device });
    expect(
      parseClusterOutputs({ ...good, package_data: { host: null, device } }).packageData,
    ).toBeUndefined();
  });
  it("names every field that is not what the modules give", () => {
    expect(() =>
      parseClusterOutputs({
        hosts: { "t-worker-1": { role: "web", private_ip: "", ssh_host: "h", ssh_port: "22" } },
      }),
    ).toThrow(
      "hosts.t-worker-1.role is neither manager nor worker; hosts.t-worker-1.private_ip is not a string; hosts.t-worker-1.ssh_port is not a port; load_balancer is missing",
    );
  });
});

describe("inventoryFromOutputs", () => {
  it("lists managers then workers by number, as the inventory records them", () => {
    const host = (role: string, ip: string, port: number) => ({
      role,
      private_ip: ip,
      ssh_host: "127.0.0.1",
      ssh_port: port,
    });
    const inventory = inventoryFromOutputs("t", {
      hosts: {
        "t-worker-10": host("worker", "10.213.0.110", 2310),
        "t-worker-2": host("worker", "10.213.0.102", 2302),
        "t-manager-1": host("manager", "10.213.0.11", 2211),
      },
      load_balancer: { host: "127.0.0.1", http_port: 18080, https_port: 18443 },
    });
    expect(inventory).toEqual({
      target: "t",
      hosts: [
        {
          name: "t-manager-1",
          role: "manager",
          privateAddress: "10.213.0.11",
          ssh: { host: "127.0.0.1", port: 2211 },
        },
        {
          name: "t-worker-2",
          role: "worker",
          privateAddress: "10.213.0.102",
          ssh: { host: "127.0.0.1", port: 2302 },
        },
        {
          name: "t-worker-10",
          role: "worker",
          privateAddress: "10.213.0.110",
          ssh: { host: "127.0.0.1", port: 2310 },
        },
      ],
      loadBalancer: { host: "127.0.0.1", httpPort: 18080, httpsPort: 18443 },
    });
  });
});

describe("renderBackend", () => {
  it("keeps the state in a Spaces bucket through the S3 API, with no credential in the file", () => {
    const hcl = renderBackend("production", { bucket: "elm-state", region: "fra1" });
    expect(hcl).toContain('backend "s3"');
    expect(hcl).toContain('bucket = "elm-state"');
    expect(hcl).toContain('key    = "elm-infra/production.tfstate"');
    expect(hcl).toContain(
      'endpoints                   = { s3 = "https://fra1.digitaloceanspaces.com" }',
    );
    expect(hcl).not.toMatch(/access_key|secret_key/);
  });
  it("takes another key and endpoint when given", () => {
    const hcl = renderBackend("p", {
      bucket: "b1",
      region: "ams3",
      key: "state/p.tfstate",
      endpoint: "http://127.0.0.1:9000",
    });
    expect(hcl).toContain('key    = "state/p.tfstate"');
    expect(hcl).toContain('{ s3 = "http://127.0.0.1:9000" }');
  });
});

describe("renderStoreBackend", () => {
  it("keeps the state under the store's prefix, locked by OpenTofu's lockfile, no credential", () => {
    const hcl = renderStoreBackend("production", {
      endpoint: "https://fra1.digitaloceanspaces.com",
      bucket: "elm-state",
      region: "fra1",
      prefix: "elm-infra/production/",
    });
    expect(hcl).toContain("# Generated by elm-infra from targets.production.store in cluster.yaml");
    expect(hcl).toContain('key    = "elm-infra/production/terraform.tfstate"');
    expect(hcl).toContain('region                      = "fra1"');
    expect(hcl).toContain("use_lockfile                = true");
    expect(hcl).toContain("use_path_style              = true");
    expect(hcl).not.toMatch(/access_key|secret_key/);
  });
});

describe("secretVarEnv", () => {
  it("passes the DigitalOcean token as TF_VAR_do_token", () => {
    expect(secretVarEnv("production", target(), { digitaloceanToken: "dop_v1_abc" })).toEqual({
      TF_VAR_do_token: "dop_v1_abc",
    });
  });
  it("refuses a digitalocean target without a token, naming the secrets file", () => {
    expect(() => secretVarEnv("production", target(), {})).toThrow(
      /secrets\/production\.yaml: digitaloceanToken: is required/,
    );
  });
  it("needs nothing for a local target", () => {
    expect(secretVarEnv("local", target({ provider: "local" }), {})).toEqual({});
  });
});

describe("chooseBinary", () => {
  const both = { tofu: "/c/bin/tofu", terraform: "/usr/local/bin/terraform" };
  it.each([
    ["auto", both, { program: "tofu", path: "/c/bin/tofu" }],
    [
      "auto",
      { terraform: "/usr/local/bin/terraform" },
      { program: "terraform", path: "/usr/local/bin/terraform" },
    ],
    ["terraform", both, { program: "terraform", path: "/usr/local/bin/terraform" }],
    ["tofu", { terraform: "/usr/local/bin/terraform" }, undefined],
    ["auto", {}, undefined],
  ] as const)("%s with %j", (choice, found, expected) => {
    expect(chooseBinary(choice, found)).toEqual(expected);
  });

  it("searches the tool cache before PATH", () => {
    expect(searchDirs("/home/u/.cache/elm-infra", "/usr/bin::/bin")).toEqual([
      "/home/u/.cache/elm-infra/bin",
      "/usr/bin",
      "/bin",
    ]);
  });
});

describe("findCliConfig", () => {
  it("prefers the operator's TF_CLI_CONFIG_FILE (a 2.x provider from the registry) to the mirror's", async () => {
    const own = "/home/u/.terraformrc-do2";
    expect(await findCliConfig("/nonexistent-cache", { TF_CLI_CONFIG_FILE: own })).toBe(own);
  });

  it("is the tool cache's terraformrc when present, else none", async () => {
    expect(await findCliConfig("/nonexistent-cache", {})).toBeUndefined();
  });
});

// Lines captured from Terraform 1.11.4 (`plan -json`, `apply -json`, `destroy -json`).
const captured = {
  version: `{"@level":"info","@message":"Terraform 1.11.4","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:14.693171Z","terraform":"1.11.4","type":"version","ui":"1.2"}`,
  planned: `{"@level":"info","@message":"terraform_data.b: Plan to create","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:14.790581Z","change":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create"},"type":"planned_change"}`,
  summary: `{"@level":"info","@message":"Plan: 2 to add, 0 to change, 0 to destroy.","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:14.790801Z","changes":{"add":2,"change":0,"import":0,"remove":0,"operation":"plan"},"type":"change_summary"}`,
  outputs: `{"@level":"info","@message":"Outputs: 1","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:15.083699Z","outputs":{"a":{"sensitive":false,"type":"string","value":"hello"}},"type":"outputs"}`,
  applyStart: `{"@level":"info","@message":"terraform_data.b: Creating...","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:15.057745Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create"},"type":"apply_start"}`,
  applyComplete: `{"@level":"info","@message":"terraform_data.b: Creation complete after 0s [id=114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b]","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:15.058738Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create","id_key":"id","id_value":"114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b","elapsed_seconds":0},"type":"apply_complete"}`,
  destroyComplete: `{"@level":"info","@message":"terraform_data.a: Destruction complete after 0s","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:18.797334Z","hook":{"resource":{"addr":"terraform_data.a","module":"","resource":"terraform_data.a","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"a","resource_key":null},"action":"delete","elapsed_seconds":0},"type":"apply_complete"}`,
  refreshStart: `{"@level":"info","@message":"terraform_data.b: Refreshing state... [id=114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b]","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:18.782215Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"id_key":"id","id_value":"114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b"},"type":"refresh_start"}`,
  postcondition: `{"@level":"error","@message":"Error: Resource postcondition failed","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:19.364594Z","diagnostic":{"severity":"error","summary":"Resource postcondition failed","detail":"n must be above 5.","range":{"filename":"main.tf","start":{"line":6,"column":23,"byte":137},"end":{"line":6,"column":38,"byte":152}},"snippet":{"context":"resource \\"terraform_data\\" \\"bad\\"","code":"      condition     = self.output \\u003e 5","start_line":6,"highlight_start_offset":22,"highlight_end_offset":37,"values":[{"traversal":"self.output","statement":"is 1"}]}},"type":"diagnostic"}`,
  badVariable: `{"@level":"error","@message":"Error: Invalid value for input variable","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:19.715702Z","diagnostic":{"severity":"error","summary":"Invalid value for input variable","detail":"Unsuitable value for var.n set using the TF_VAR_n environment variable: a number is required.","range":{"filename":"main.tf","start":{"line":1,"column":1,"byte":0},"end":{"line":1,"column":13,"byte":12}},"snippet":{"context":null,"code":"variable \\"n\\" { type = number }","start_line":1,"highlight_start_offset":0,"highlight_end_offset":12,"values":[]}},"type":"diagnostic"}`,
};

describe("parseUiLine", () => {
  it.each([
    ["version", captured.version, { kind: "version", program: "terraform", version: "1.11.4" }],
    [
      "planned change",
      captured.planned,
      { kind: "planned-change", resource: "terraform_data.b", action: "create" },
    ],
    [
      "change summary",
      captured.summary,
      { kind: "change-summary", operation: "plan", add: 2, change: 0, remove: 0 },
    ],
    [
      "apply start",
      captured.applyStart,
      { kind: "apply-start", resource: "terraform_data.b", action: "create" },
    ],
    [
      "apply complete",
      captured.applyComplete,
      {
        kind: "apply-complete",
        resource: "terraform_data.b",
        action: "create",
        elapsedSeconds: 0,
        id: "114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b",
      },
    ],
    [
      "OpenTofu's apply complete",
      `{"@level":"info","@message":"terraform_data.b: Creation complete after 0s [id=5a38f654-acab-93f9-a724-934b91d58db7]","@module":"tofu.ui","@timestamp":"2026-11-22T00:47:23.570001Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create","id_key":"id","id_value":"5a38f654-acab-93f9-a724-934b91d58db7","elapsed_seconds":0},"type":"apply_complete"}`,
      {
        kind: "apply-complete",
        resource: "terraform_data.b",
        action: "create",
        elapsedSeconds: 0,
        id: "5a38f654-acab-93f9-a724-934b91d58db7",
      },
    ],
    [
      "destroy complete",
      captured.destroyComplete,
      { kind: "apply-complete", resource: "terraform_data.a", action: "delete", elapsedSeconds: 0 },
    ],
    [
      "diagnostic",
      captured.postcondition,
      {
        kind: "diagnostic",
        diagnostic: {
          severity: "error",
          summary: "Resource postcondition failed",
          detail: "n must be above 5.",
          location: "main.tf:6",
        },
      },
    ],
    [
      "OpenTofu's version line (captured from tofu 1.10.6)",
      `{"@level":"info","@message":"OpenTofu 1.10.6-dev","@module":"tofu.ui","@timestamp":"2026-11-22T00:47:23.416709Z","tofu":"1.10.6-dev","type":"version","ui":"1.2"}`,
      { kind: "version", program: "tofu", version: "1.10.6-dev" },
    ],
    [
      "a plain text line",
      "Acquiring state lock. This may take a few moments...",
      {
        kind: "log",
        level: "info",
        message: "Acquiring state lock. This may take a few moments...",
      },
    ],
  ] as const)("%s", (_name, line, expected) => {
    expect(parseUiLine(line)).toEqual(expected);
  });

  it.each([
    ["outputs (values may be sensitive)", captured.outputs],
    ["refresh start", captured.refreshStart],
    ["an empty line", "   "],
  ])("ignores %s", (_name, line) => {
    expect(parseUiLine(line)).toBeUndefined();
  });
});

describe("summarizeDiagnostics", () => {
  it("joins the error summaries with where and why", () => {
    const diagnostics = [captured.postcondition, captured.badVariable].map(
      (l) => (parseUiLine(l) as Extract<TerraformEvent, { kind: "diagnostic" }>).diagnostic,
    );
    expect(
      summarizeDiagnostics([
        ...diagnostics,
        { severity: "warning", summary: "Deprecated", detail: "" },
      ]),
    ).toBe(
      "Resource postcondition failed (main.tf:6): n must be above 5.; Invalid value for input variable (main.tf:1): Unsuitable value for var.n set using the TF_VAR_n environment variable: a number is required.",
    );
  });
});

describe("errorLines", () => {
  it("reads the errors of init's human output", () => {
    const stderr = [
      "",
      "╷",
      "│ Error: Failed to query available provider packages",
      "│ ",
      "│ Could not retrieve the list of available versions for provider digitalocean/digitalocean",
      "╵",
    ].join("\n");
    expect(errorLines(stderr)).toBe("Failed to query available provider packages");
  });
});

it("keeps state under .elm-infra/<target>/terraform", () => {
  expect(workDirFor("/srv/elm", "production")).toBe("/srv/elm/.elm-infra/production/terraform");
});

describe("describeEvent", () => {
  it.each([
    [captured.applyStart, "terraform_data.b: creating"],
    [captured.applyComplete, "terraform_data.b: created after 0s"],
    [captured.destroyComplete, "terraform_data.a: destroyed after 0s"],
    [captured.summary, "plan: 2 to add, 0 to change, 0 to destroy"],
    [
      captured.postcondition,
      "error: Resource postcondition failed (main.tf:6): n must be above 5.",
    ],
    [captured.planned, undefined],
  ])("%#", (line, expected) => {
    expect(describeEvent(parseUiLine(line)!)).toBe(expected);
  });
});
