import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import {
  buildSitePlaybookCommand,
  FAST_HEALTH,
  siteExtraVars,
  siteInventory,
  siteSecretEnv,
  type SiteHost,
  type SiteSecrets,
  type SiteSettings,
} from "../../../src/ansible/site.js";

const hosts: SiteHost[] = [
  {
    name: "t-manager-1",
    role: "manager",
    privateIp: "10.9.0.11",
    sshHost: "127.0.0.1",
    sshPort: 2201,
  },
  {
    name: "t-worker-1",
    role: "worker",
    privateIp: "10.9.0.21",
    sshHost: "127.0.0.1",
    sshPort: 2211,
  },
];

const secrets: SiteSecrets = {
  consulGossipKey: "Q29uc3VsR29zc2lwS2V5Q29uc3VsR29zc2lwS2V5MTI=",
  consulManagementToken: "11111111-1111-1111-1111-111111111111",
  consulAgentToken: "22222222-2222-2222-2222-222222222222",
  consulNomadToken: "33333333-3333-3333-3333-333333333333",
  consulTraefikToken: "44444444-4444-4444-4444-444444444444",
  nomadGossipKey: "Tm9tYWRHb3NzaXBLZXlOb21hZEdvc3NpcEtleTEyMzQ=",
  nomadManagementToken: "55555555-5555-5555-5555-555555555555",
};

const local: SiteSettings = {
  target: "t",
  softwareSource: "local",
  agentRepository: { url: "http://10.213.0.6", keyUrl: "http://10.213.0.6/gpg" },
  consulVersion: "1.22.0",
  nomadVersion: "1.10.5",
  authorizedKeys: ["ssh-ed25519 AAAA elm-infra t"],
};

const secretValues = Object.values(secrets);

describe("siteExtraVars", () => {
  it("gives the roles the non-secret variables of a local target", () => {
    expect(siteExtraVars(local, hosts)).toEqual({
      elm_infra_target: "t",
      elm_infra_software_source: "local",
      hashicorp_apt_url: "http://10.213.0.6",
      hashicorp_apt_key_url: "http://10.213.0.6/gpg",
      consul_version: "1.22.0",
      nomad_version: "1.10.5",
      datacenter: "dc1",
      manager_count: 1,
      package_data_path: "/srv/package-data",
      package_data_uid: 10001,
      // No volume attached yet: the package_data role does nothing.
      package_data_host: "",
      package_data_device: "",
      base_ssh_port: 22,
      base_authorized_keys: ["ssh-ed25519 AAAA elm-infra t"],
    });
  });

  it("refuses a run without the key it logs in with in authorized_keys", () => {
    expect(() => siteExtraVars({ ...local, authorizedKeys: [] }, hosts)).toThrow(/authorized_keys/);
  });
  it("names the package data volume's holder and device, as OpenTofu attached it", () => {
    const packageData = {
      host: "t-worker-2",
      device: "/dev/disk/by-id/scsi-0DO_Volume_t-package-data",
    };
    expect(siteExtraVars({ ...local, packageData }, hosts)).toMatchObject({
      package_data_host: "t-worker-2",
      package_data_device: "/dev/disk/by-id/scsi-0DO_Volume_t-package-data",
      package_data_path: "/srv/package-data",
    });
  });
  it("sshd's port in the hosts is ssh.port (the host firewall opens it), not the port this machine reaches", () => {
    expect(siteExtraVars({ ...local, sshdPort: 2222 }, hosts)).toMatchObject({
      base_ssh_port: 2222,
    });
  });
  it("installs the agents the same way on official hosts, and passes health timing", () => {
    const hashicorp = {
      url: "https://apt.releases.hashicorp.com",
      keyUrl: "https://apt.releases.hashicorp.com/gpg",
    };
    const vars = siteExtraVars(
      { ...local, softwareSource: "official", agentRepository: hashicorp, health: FAST_HEALTH },
      hosts,
    );
    expect(vars).toMatchObject({
      elm_infra_software_source: "official",
      hashicorp_apt_url: hashicorp.url,
      hashicorp_apt_key_url: hashicorp.keyUrl,
      nomad_heartbeat_grace: "3s",
      nomad_min_heartbeat_ttl: "2s",
      consul_autopilot: { server_stabilization_time: "3s", cleanup_dead_servers: true },
      nomad_autopilot: { server_stabilization_time: "3s", cleanup_dead_servers: true },
    });
  });
  it("refuses a cluster without a manager", () => {
    expect(() => siteExtraVars(local, hosts.slice(1))).toThrow(/needs a manager/);
  });
});

describe("siteSecretEnv", () => {
  it("names each secret as the roles read it", () => {
    expect(siteSecretEnv(secrets)).toEqual({
      ELM_INFRA_CONSUL_GOSSIP_KEY: secrets.consulGossipKey,
      ELM_INFRA_CONSUL_MANAGEMENT_TOKEN: secrets.consulManagementToken,
      ELM_INFRA_CONSUL_AGENT_TOKEN: secrets.consulAgentToken,
      ELM_INFRA_CONSUL_NOMAD_TOKEN: secrets.consulNomadToken,
      ELM_INFRA_CONSUL_TRAEFIK_TOKEN: secrets.consulTraefikToken,
      ELM_INFRA_NOMAD_GOSSIP_KEY: secrets.nomadGossipKey,
      ELM_INFRA_NOMAD_MANAGEMENT_TOKEN: secrets.nomadManagementToken,
    });
  });
  it("refuses empty secrets, naming them (not their values)", () => {
    expect(() => siteSecretEnv({ ...secrets, consulAgentToken: "", nomadGossipKey: "" })).toThrow(
      "site playbook: missing secrets: consulAgentToken, nomadGossipKey",
    );
  });
});

describe("siteInventory", () => {
  it("puts managers and workers in their groups with their SSH endpoint and private address", () => {
    expect(load(siteInventory(hosts))).toMatchObject({
      all: {
        children: {
          managers: {
            hosts: {
              "t-manager-1": {
                ansible_host: "127.0.0.1",
                ansible_port: 2201,
                private_ip: "10.9.0.11",
              },
            },
          },
          workers: {
            hosts: {
              "t-worker-1": {
                ansible_host: "127.0.0.1",
                ansible_port: 2211,
                private_ip: "10.9.0.21",
              },
            },
          },
        },
      },
    });
  });
});

describe("buildSitePlaybookCommand", () => {
  const command = buildSitePlaybookCommand({
    inventoryPath: "/tmp/site/inventory.yml",
    extraVarsPath: "/tmp/site/vars.json",
    privateKeyPath: "/keys/id_ed25519",
    knownHostsPath: "/keys/known_hosts",
    hostKeyChecking: "yes",
    secrets,
    hostCount: 7,
    limit: "workers",
  });

  it("runs site.yml with the inventory, the variables file, every host at once and pinned keys", () => {
    expect(command.file).toBe("ansible-playbook");
    expect(command.args.slice(0, -1)).toEqual([
      "--inventory",
      "/tmp/site/inventory.yml",
      "--private-key",
      "/keys/id_ed25519",
      "--ssh-common-args",
      "-o UserKnownHostsFile=/keys/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o PasswordAuthentication=no -o CheckHostIP=no",
      "--timeout",
      "15",
      "--forks",
      "7",
      "--limit",
      "workers",
      "--extra-vars",
      "@/tmp/site/vars.json",
    ]);
    expect(command.args.at(-1)).toMatch(/\/playbooks\/site\.yml$/);
    expect(command.env).toMatchObject({ ANSIBLE_STDOUT_CALLBACK: "elm_infra_jsonl" });
  });

  it("passes the secrets in the environment only: never in argv or the variables file", () => {
    expect(command.env).toMatchObject(siteSecretEnv(secrets));
    const argv = command.args.join("\n");
    const varsFile = JSON.stringify(siteExtraVars(local, hosts));
    for (const secret of secretValues) {
      expect(argv).not.toContain(secret);
      expect(varsFile).not.toContain(secret);
    }
  });

  it("runs at least 5 hosts at once", () => {
    const small = buildSitePlaybookCommand({
      inventoryPath: "i",
      extraVarsPath: "v",
      privateKeyPath: "k",
      knownHostsPath: "h",
      secrets,
      hostCount: 2,
    });
    expect(small.args[small.args.indexOf("--forks") + 1]).toBe("5");
  });
});
