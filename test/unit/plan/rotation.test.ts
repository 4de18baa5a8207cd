import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  configSettingOf,
  describeRotation,
  keysToRemove,
  planRotation,
  rotatedSecretFields,
  setConfigValueCommand,
  tokenDescriptionOf,
  tokensToDelete,
} from "../../../src/plan/rotation.js";
import { clusterSecretFields } from "../../../src/plan/secrets.js";

const hosts = { managers: ["t-manager-1"], workers: ["t-worker-1", "t-worker-2"] };
const repo = resolve(import.meta.dirname, "../../..");

describe("planRotation", () => {
  const plan = planRotation(hosts, "secrets/t.yaml");

  it("renews the gossip keys first and Nomad's token (the only restart) last", () => {
    expect(plan.map((s) => s.field)).toEqual([...rotatedSecretFields]);
    expect(plan.map((s) => s.field)).toEqual([
      "consulGossipKey",
      "nomadGossipKey",
      "consulAgentToken",
      "consulTraefikToken",
      "consulNomadToken",
    ]);
    expect(plan.filter((s) => s.restarts.length > 0).map((s) => s.field)).toEqual([
      "consulNomadToken",
    ]);
  });

  it("never rotates the operator's management tokens", () => {
    const left = clusterSecretFields.filter(
      (f) => !(rotatedSecretFields as readonly string[]).includes(f),
    );
    expect(left).toEqual(["consulToken", "nomadToken"]);
  });

  it.each([
    [
      "consulGossipKey",
      /install/,
      /write it to secrets\/t.yaml/,
      /make it the key/,
      /remove every other key/,
    ],
    [
      "nomadGossipKey",
      /install/,
      /write it to secrets\/t.yaml/,
      /make it the key/,
      /remove every other key/,
    ],
    [
      "consulAgentToken",
      /create a new token/,
      /write it to/,
      /set it in every Consul agent/,
      /delete the old token/,
    ],
    [
      "consulTraefikToken",
      /create a new token/,
      /write it to/,
      /one worker at a time/,
      /delete the old token/,
    ],
    [
      "consulNomadToken",
      /create a new token/,
      /write it to/,
      /restart Nomad one host at a time/,
      /delete the old token/,
    ],
  ])(
    "%s: the old value stays accepted until the new one is in use (install/create, record, use/deliver, remove)",
    (field, ...order) => {
      const step = plan.find((s) => s.field === field)!;
      expect(step.actions).toHaveLength(order.length);
      order.forEach((pattern, i) => expect(step.actions[i]).toMatch(pattern));
    },
  );

  it("restarts Nomad on the workers first, then the managers, one at a time", () => {
    expect(plan.at(-1)!.restarts).toEqual(["t-worker-1", "t-worker-2", "t-manager-1"]);
  });

  it("names the hosts whose configuration file holds each value: Nomad's gossip key on the managers only", () => {
    const actions = (field: string) => plan.find((s) => s.field === field)!.actions.join("\n");
    expect(actions("nomadGossipKey")).toContain("encrypt in /etc/nomad.d/nomad.hcl on t-manager-1");
    expect(actions("nomadGossipKey")).not.toContain("t-worker-1");
    expect(actions("consulGossipKey")).toContain(
      "encrypt in /etc/consul.d/consul.hcl on t-manager-1, t-worker-1, t-worker-2",
    );
    expect(actions("consulNomadToken")).toContain(
      "token in /etc/nomad.d/nomad.hcl on t-manager-1, t-worker-1, t-worker-2",
    );
  });

  it("the dry run lists every step, its actions, and what is not rotated", () => {
    const lines = describeRotation(plan);
    expect(lines[0]).toBe("Consul's gossip key (consulGossipKey):");
    expect(lines.filter((l) => !l.startsWith("  ") && !l.startsWith("not rotated"))).toEqual([
      "Consul's gossip key (consulGossipKey):",
      "Nomad's gossip key (nomadGossipKey):",
      "The Consul agents' token (consulAgentToken):",
      "Traefik's Consul token (consulTraefikToken):",
      "Nomad's Consul token (consulNomadToken):",
    ]);
    expect(lines.filter((l) => l.startsWith("not rotated"))).toEqual([
      expect.stringMatching(
        /^not rotated: consulToken, nomadToken \(the operator's management tokens/,
      ),
      expect.stringMatching(/^not rotated: the ACME issuer's token \(a Nomad workload identity/),
    ]);
  });
});

describe("what is removed once the new value is in use", () => {
  it.each([
    [["old", "new"], "new", ["old"]],
    [["a", "b", "new", "new"], "new", ["a", "b"]],
    [["new"], "new", []],
  ])("keys %j keeping %s: remove %j", (installed, keep, removed) => {
    expect(keysToRemove(installed, keep)).toEqual(removed);
  });

  it("tokens: every other one of the same description (an interrupted run's too), none of another", () => {
    const tokens = [
      { AccessorID: "a1", Description: "elm-infra: Traefik" },
      { AccessorID: "a2", Description: "elm-infra: Traefik" },
      { AccessorID: "new", Description: "elm-infra: Traefik" },
      { AccessorID: "n1", Description: "elm-infra: Nomad agents" },
      { AccessorID: "m", Description: "Bootstrap Token (Global Management)" },
      { AccessorID: "x" },
    ];
    expect(tokensToDelete(tokens, "elm-infra: Traefik", "new")).toEqual(["a1", "a2"]);
    expect(tokensToDelete(tokens, "elm-infra: Nomad agents", "n2")).toEqual(["n1"]);
  });

  it("the tokens' descriptions are the playbook's", async () => {
    const defaults = await readFile(join(repo, "playbooks/roles/consul/defaults/main.yml"), "utf8");
    for (const description of Object.values(tokenDescriptionOf))
      expect(defaults).toContain(`description: "${description}"`);
  });
});

describe("setConfigValueCommand: the value on stdin, set as the playbook's template writes it", () => {
  const run = (command: string, stdin: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = execFile("sh", ["-c", command], (error, stdout, stderr) =>
        done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end(stdin);
    });

  it.each([
    [
      "consulGossipKey",
      "playbooks/roles/consul/templates/consul.hcl.j2",
      "{{ consul_gossip_key }}",
    ],
    [
      "consulAgentToken",
      "playbooks/roles/consul/templates/consul.hcl.j2",
      "{{ consul_agent_token }}",
    ],
    ["nomadGossipKey", "playbooks/roles/nomad/templates/nomad.hcl.j2", "{{ nomad_gossip_key }}"],
    [
      "consulNomadToken",
      "playbooks/roles/nomad/templates/nomad.hcl.j2",
      "{{ nomad_consul_token }}",
    ],
  ] as const)(
    "%s: the template's line, with the new value where the secret goes; nothing else changed",
    async (field, template, variable) => {
      const dir = await mkdtemp(join(tmpdir(), "rotate-"));
      try {
        const text = await readFile(join(repo, template), "utf8");
        const file = join(dir, "agent.hcl");
        await writeFile(file, text.replace(variable, "old-value"));
        await chmod(file, 0o640);
        const { setting } = configSettingOf[field];
        const command = setConfigValueCommand(file, setting);
        expect(command).not.toContain("new-value");
        const first = await run(command, "new-value\n");
        expect(first).toMatchObject({ code: 0, stdout: "changed\n", stderr: "" });
        expect(await readFile(file, "utf8")).toBe(text.replace(variable, "new-value"));
        expect((await stat(file)).mode & 0o777).toBe(0o640);
        expect((await run(command, "new-value\n")).stdout).toBe("unchanged\n");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("fails, naming the setting and not the value, when the file does not hold it exactly once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rotate-"));
    try {
      const file = join(dir, "agent.hcl");
      await writeFile(file, "server = true\nencrypt_verify_incoming = true\n");
      const r = await run(setConfigValueCommand(file, "encrypt"), "s3cret-value\n");
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("0 settings named encrypt");
      expect(r.stderr).not.toContain("s3cret-value");
      expect(await readFile(file, "utf8")).toBe("server = true\nencrypt_verify_incoming = true\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a setting or file that could break out of the command", () => {
    expect(() => setConfigValueCommand("/etc/x.hcl", "a'; rm -rf /")).toThrow();
    expect(() => setConfigValueCommand("/etc/x y.hcl", "encrypt")).toThrow();
  });
});
