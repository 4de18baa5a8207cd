/**
 * Issue 22's rotation on the shared cluster, under the probe on both sites: `rotate --yes` renews
 * both gossip keys and the agents', Traefik's and Nomad's Consul tokens without a failed request;
 * afterwards the secrets file holds the new values (the management tokens unchanged), no agent's
 * keyring holds an old key, Consul refuses every old token and accepts the new ones, each host's
 * configuration files hold the new values (so a later bring-up finds nothing to change), Consul
 * never restarted, and `status --check` is clean.
 */
import { expect, it } from "vitest";
import { parse } from "yaml";
import { connectToCluster } from "../../../src/cluster/connect.js";
import type { RotateResult } from "../../../src/commands/rotate.js";
import { loadConfig } from "../../../src/config/load.js";
import { rotatedSecretFields } from "../../../src/plan/rotation.js";
import {
  agentPids,
  anyVersion,
  docker,
  e2e,
  elmInfra,
  elmInfraTimed,
  ensureDeployed,
  errorOf,
  failedRequestsOf,
  hostNames,
  noFailures,
  resultOf,
  secretsFile,
  underProbe,
} from "../support.js";

type SecretsDoc = Record<string, string>;
/** agentPids' value for a host: Consul's main pid, then Nomad's (systemctl puts a blank line between). */
const mainPids = (value: string) => value.split(/\n+/);
const readSecretsDoc = async () => parse(await secretsFile()) as SecretsDoc;

/** One setting's value in a host's agent configuration file, as the playbook's template writes it. */
async function settingOn(host: string, file: string, setting: string): Promise<string[]> {
  const text = await docker("exec", host, "cat", file);
  return [...text.matchAll(new RegExp(`^\\s*${setting}\\s*=\\s*"([^"]*)"`, "gm"))].map(
    (m) => m[1]!,
  );
}

export function rotationScenarios(): void {
  it("rotate under the probe on both sites: 0 failed requests; the old gossip keys and tokens are refused afterwards, the new ones work, and the agents' files hold them", async () => {
    await ensureDeployed({ "elm-lang.org": anyVersion, "package.elm-lang.org": anyVersion });
    const before = await readSecretsDoc();

    const dry = await elmInfra(["rotate", "--dry-run"]);
    expect(dry.exitCode, errorOf(dry)).toBe(0);
    const planned = resultOf<RotateResult>(dry);
    expect(planned.outcome).toBe("planned");
    expect(planned.plan.filter((l) => !l.startsWith("  "))).toEqual([
      "Consul's gossip key (consulGossipKey):",
      "Nomad's gossip key (nomadGossipKey):",
      "The Consul agents' token (consulAgentToken):",
      "Traefik's Consul token (consulTraefikToken):",
      "Nomad's Consul token (consulNomadToken):",
      expect.stringMatching(/^not rotated: consulToken, nomadToken/),
      expect.stringMatching(/^not rotated: the ACME issuer's token/),
    ]);
    expect(await readSecretsDoc()).toEqual(before);

    const pidsBefore = await agentPids();
    const { value: timed, reports } = await underProbe(() => elmInfraTimed(["rotate", "--yes"]));
    const r = timed.run;
    console.log(`rotate's timeline:\n${timed.timeline.join("\n")}`);
    expect(r.exitCode, errorOf(r)).toBe(0);
    expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
    for (const report of reports) expect(report.sent).toBeGreaterThan(100);
    const result = resultOf<RotateResult>(r);
    expect(result.rotated.map((x) => x.field)).toEqual([...rotatedSecretFields]);
    const hosts = (await hostNames()).split("\n").filter((h) => h);
    const managers = hosts.filter((h) => h.includes("-manager-"));
    const workers = hosts.filter((h) => h.includes("-worker-"));
    expect(result.restarted).toEqual([...workers, ...managers].map((h) => `${h}: nomad`));

    // The secrets file: every rotated value new, the management tokens and the rest unchanged.
    const after = await readSecretsDoc();
    for (const field of rotatedSecretFields) {
      expect(after[field], field).toBeDefined();
      expect(after[field], field).not.toBe(before[field]);
    }
    const untouched = (doc: SecretsDoc) =>
      Object.fromEntries(
        Object.entries(doc).filter(
          ([k]) => !(rotatedSecretFields as readonly string[]).includes(k),
        ),
      );
    expect(untouched(after)).toEqual(untouched(before));
    // Neither value of any rotated secret in what rotate printed.
    const printed = JSON.stringify(r.events) + r.stderr;
    for (const field of rotatedSecretFields) {
      expect(printed.includes(before[field]!), field).toBe(false);
      expect(printed.includes(after[field]!), field).toBe(false);
    }

    const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
    const apis = await connectToCluster(loaded);
    try {
      // Every pool of every agent holds the new key alone.
      for (const pool of await apis.consul.keyring())
        expect(Object.keys(pool.Keys)).toEqual([after.consulGossipKey]);
      expect(Object.keys(await apis.nomad.gossipKeys())).toEqual([after.nomadGossipKey]);
      for (const field of ["consulAgentToken", "consulTraefikToken", "consulNomadToken"]) {
        expect(await apis.consul.tokenOf(before[field]!), `old ${field}`).toBeUndefined();
        expect(await apis.consul.tokenOf(after[field]!), `new ${field}`).toBeDefined();
      }
    } finally {
      await apis.close();
    }

    // The agents' files hold the new values, as the playbook writes them: a restarted agent and
    // a later bring-up take them, and the bring-up has nothing to change.
    for (const host of hosts) {
      expect(await settingOn(host, "/etc/consul.d/consul.hcl", "encrypt")).toEqual([
        after.consulGossipKey,
      ]);
      expect(await settingOn(host, "/etc/consul.d/consul.hcl", "agent")).toEqual([
        after.consulAgentToken,
      ]);
      expect(await settingOn(host, "/etc/nomad.d/nomad.hcl", "token")).toEqual([
        after.consulNomadToken,
      ]);
    }
    for (const host of managers)
      expect(await settingOn(host, "/etc/nomad.d/nomad.hcl", "encrypt")).toEqual([
        after.nomadGossipKey,
      ]);

    // No Consul agent restarted; every Nomad agent did, once.
    const pidsAfter = await agentPids();
    for (const host of hosts) {
      const [consulBefore, nomadBefore] = mainPids(pidsBefore[host]!);
      const [consulAfter, nomadAfter] = mainPids(pidsAfter[host]!);
      expect(consulBefore, `${host} consul`).toMatch(/^[1-9]\d*$/);
      expect(consulAfter, `${host} consul`).toBe(consulBefore);
      expect(nomadAfter, `${host} nomad`).not.toBe(nomadBefore);
    }

    const status = await elmInfra(["status", "--check"]);
    expect(status.exitCode, errorOf(status)).toBe(0);
  });
}
