import { existsSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { buildAdHocCommand, buildPlaybookCommand, shellQuote } from "../../../src/ansible/argv.js";
import { renderInventory } from "../../../src/ansible/inventory.js";

describe("renderInventory", () => {
  it("puts hosts into managers and workers with their address, port and variables", () => {
    const text = renderInventory(
      [
        { name: "m1", address: "10.0.0.2", group: "managers" },
        {
          name: "w1",
          address: "10.0.0.3",
          port: 2222,
          group: "workers",
          vars: { nomad_class: "web" },
        },
      ],
      { vars: { datacenter: "dc1" } },
    );
    expect(load(text)).toEqual({
      all: {
        vars: {
          ansible_user: "root",
          ansible_python_interpreter: "/usr/bin/python3",
          datacenter: "dc1",
        },
        children: {
          managers: { hosts: { m1: { ansible_host: "10.0.0.2" } } },
          workers: {
            hosts: { w1: { ansible_host: "10.0.0.3", ansible_port: 2222, nomad_class: "web" } },
          },
        },
      },
    });
  });
  it("keeps an empty group so plays aimed at it parse", () => {
    const parsed = load(
      renderInventory([{ name: "m1", address: "10.0.0.2", group: "managers" }], { user: "admin" }),
    ) as {
      all: { vars: { ansible_user: string }; children: { workers: { hosts: object } } };
    };
    expect(parsed.all.children.workers.hosts).toEqual({});
    expect(parsed.all.vars.ansible_user).toBe("admin");
  });
  it("refuses a host listed twice", () => {
    expect(() =>
      renderInventory([
        { name: "m1", address: "10.0.0.2", group: "managers" },
        { name: "m1", address: "10.0.0.3", group: "workers" },
      ]),
    ).toThrow(/m1 is listed twice/);
  });
});

const connection = {
  inventoryPath: "/tmp/inv.yml",
  privateKeyPath: "/tmp/id_ed25519",
  knownHostsPath: "/tmp/known hosts",
};
const sshArgs =
  "-o UserKnownHostsFile='/tmp/known hosts' -o StrictHostKeyChecking=accept-new -o IdentitiesOnly=yes -o PasswordAuthentication=no -o CheckHostIP=no";

describe("buildPlaybookCommand", () => {
  it("builds ansible-playbook argv with key, pinned host keys and inventory", () => {
    const command = buildPlaybookCommand({ ...connection, playbookPath: "playbooks/ping.yml" });
    expect(command.file).toBe("ansible-playbook");
    expect(command.args).toEqual([
      "--inventory",
      "/tmp/inv.yml",
      "--private-key",
      "/tmp/id_ed25519",
      "--ssh-common-args",
      sshArgs,
      "--timeout",
      "15",
      "playbooks/ping.yml",
    ]);
    expect(command.env).toMatchObject({
      ANSIBLE_HOST_KEY_CHECKING: "True",
      ANSIBLE_STDOUT_CALLBACK: "elm_infra_jsonl",
      ANSIBLE_NOCOLOR: "1",
    });
    // The callback plugin ships with the playbooks, wherever the package is installed.
    expect(command.env.ANSIBLE_CALLBACK_PLUGINS).toMatch(/\/playbooks\/callback_plugins$/);
    expect(existsSync(join(command.env.ANSIBLE_CALLBACK_PLUGINS!, "elm_infra_jsonl.py"))).toBe(
      true,
    );
    expect(command.env.ANSIBLE_CACHE_PLUGIN).toBeUndefined();
  });
  it("adds limit, tags, extra vars, check, verbosity, forks, strict checking and a fact cache", () => {
    const command = buildPlaybookCommand({
      ...connection,
      hostKeyChecking: "yes",
      connectTimeoutSeconds: 5,
      forks: 10,
      playbookPath: "site.yml",
      limit: "managers",
      tags: ["nomad", "consul"],
      extraVars: { version: "1.2.3" },
      extraVarsFiles: ["/tmp/vars.json"],
      env: { ELM_INFRA_SECRET: "s3cret" },
      check: true,
      verbosity: 9,
      factCacheDir: "/tmp/facts",
    });
    expect(command.args).toEqual([
      "--inventory",
      "/tmp/inv.yml",
      "--private-key",
      "/tmp/id_ed25519",
      "--ssh-common-args",
      sshArgs.replace("accept-new", "yes"),
      "--timeout",
      "5",
      "--forks",
      "10",
      "--limit",
      "managers",
      "--tags",
      "nomad,consul",
      "--extra-vars",
      '{"version":"1.2.3"}',
      "--extra-vars",
      "@/tmp/vars.json",
      "--check",
      "-vvvv",
      "site.yml",
    ]);
    expect(command.env).toMatchObject({
      ELM_INFRA_SECRET: "s3cret",
      ANSIBLE_CACHE_PLUGIN: "jsonfile",
      ANSIBLE_CACHE_PLUGIN_CONNECTION: "/tmp/facts",
    });
  });
});

describe("buildAdHocCommand", () => {
  it("builds ansible argv for a module on a pattern", () => {
    const command = buildAdHocCommand({
      ...connection,
      pattern: "workers",
      module: "ansible.builtin.command",
      moduleArgs: "uptime",
    });
    expect(command.file).toBe("ansible");
    expect(command.args).toEqual([
      "workers",
      "--inventory",
      "/tmp/inv.yml",
      "--private-key",
      "/tmp/id_ed25519",
      "--ssh-common-args",
      sshArgs,
      "--timeout",
      "15",
      "--module-name",
      "ansible.builtin.command",
      "--args",
      "uptime",
    ]);
  });
});

describe("shellQuote", () => {
  it.each([
    ["/tmp/known_hosts", "/tmp/known_hosts"],
    ["/tmp/a b", "'/tmp/a b'"],
    ["it's", `'it'"'"'s'`],
  ])("%s -> %s", (input, quoted) => {
    expect(shellQuote(input)).toBe(quoted);
  });
});
