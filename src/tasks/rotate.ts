/**
 * Rotation's steps (src/plan/rotation.ts says the order and why): the gossip keys through the
 * agents' keyring APIs, the Consul tokens elm-infra made created anew, delivered and proven
 * before the old ones are deleted. Each new value is written to the secrets file as soon as the
 * cluster accepts it, and to the agents' configuration files as the playbook writes them, so a
 * later bring-up changes nothing and a restarted agent comes back with it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readSecrets, secretsPath, writeSecrets } from "../config/load.js";
import { OperationError } from "../errors.js";
import { registerSecret } from "../output/redact.js";
import { withCluster, withHostAgents, type ClusterApis } from "../cluster/connect.js";
import { managersOf, workersOf, type InventoryHost } from "../cluster/inventory.js";
import {
  configSettingOf,
  keysToRemove,
  setConfigValueCommand,
  tokenDescriptionOf,
  tokensToDelete,
  type ConfiguredField,
  type RotatedField,
} from "../plan/rotation.js";
import { done, notYet, waitFor } from "../wait.js";
import { onHost } from "./retire.js";
import { readsWorkerTokens, renewWorkerToken } from "./ingress.js";
import { needed, type Step, type StepHandle } from "./runner.js";
import { shareSecretsInStore } from "./shared-state.js";
import type { HostChangeRun } from "./scale.js";

export interface RotationRun extends HostChangeRun {
  /** What each step did, one line each (no secret). */
  rotated: Array<{ field: RotatedField; detail: string }>;
  /** Agents restarted, in order ("<host>: nomad"). */
  restarted: string[];
}

const given = <K extends keyof RotationRun>(run: RotationRun, field: K) =>
  needed(run, field, "rotate");

/** The new value in the secrets file (the environment's values are not written there). */
async function recordSecret(run: RotationRun, field: RotatedField, value: string): Promise<void> {
  const { config } = run;
  const fromFile = await readSecrets(config.root, config.targetName, {});
  await writeSecrets(config.root, config.targetName, { ...fromFile, [field]: value });
  run.config.secrets = { ...run.config.secrets, [field]: value };
  await shareSecretsInStore(config, run.config.secrets, [field]);
}

/** The hosts whose configuration file holds `field`. */
function hostsHolding(run: RotationRun, field: ConfiguredField): InventoryHost[] {
  const inventory = given(run, "inventory");
  return configSettingOf[field].on === "managers"
    ? managersOf(inventory)
    : [...managersOf(inventory), ...workersOf(inventory)];
}

/** Sets the value in each host's configuration file, as the playbook's template writes it. */
async function writeToConfigFiles(
  run: RotationRun,
  field: ConfiguredField,
  value: string,
  step: StepHandle,
  hosts: InventoryHost[] = hostsHolding(run, field),
): Promise<void> {
  const { file, setting } = configSettingOf[field];
  for (const host of hosts)
    await onHost(run.config, host, step.signal, async (exec) => {
      await exec(setConfigValueCommand(file, setting), `set ${setting} in ${file}`, `${value}\n`);
    });
  step.log(`${setting} set in ${file} on ${hosts.map((h) => h.name).join(", ")}`);
}

const gossip = {
  consul: {
    field: "consulGossipKey",
    ring: (apis: ClusterApis) => apis.consul,
    installed: async (apis: ClusterApis) =>
      (await apis.consul.keyring()).flatMap((pool) => Object.keys(pool.Keys)),
    where: "every Consul agent",
  },
  nomad: {
    field: "nomadGossipKey",
    ring: (apis: ClusterApis) => apis.nomad,
    installed: async (apis: ClusterApis) => Object.keys(await apis.nomad.gossipKeys()),
    where: "every Nomad server",
  },
} as const;

/**
 * A new gossip key: installed everywhere (each agent accepts old and new), recorded, made the
 * primary key, and then every other key removed. No agent restarts; each keeps its keyring file
 * in its data folder current, and that file wins over `encrypt` at the next start.
 */
export function rotateGossipKey(system: keyof typeof gossip): Step<RotationRun> {
  const g = gossip[system];
  return {
    title: `${system === "consul" ? "Consul" : "Nomad"}'s gossip key (install, use, remove)`,
    needs: ["inventory"],
    run: async (run, step) => {
      const key = randomBytes(32).toString("base64");
      registerSecret(key);
      await withCluster(run.config, { signal: step.signal }, async (apis) => {
        await g.ring(apis).installGossipKey(key);
        step.log(`a new key installed on ${g.where}`);
        await recordSecret(run, g.field, key);
        await writeToConfigFiles(run, g.field, key, step);
        await g.ring(apis).useGossipKey(key);
        step.log("the new key is the one they encrypt with");
        const old = keysToRemove(await g.installed(apis), key);
        for (const k of old) await g.ring(apis).removeGossipKey(k);
        const left = new Set(await g.installed(apis));
        if (left.size !== 1 || !left.has(key))
          throw new OperationError(
            `${g.where} still holds ${left.size} gossip key(s) after the old ones were removed`,
            "run elm-infra rotate again: it removes every key but the one in the secrets file",
          );
        run.rotated.push({
          field: g.field,
          detail: `new key in use, ${old.length} old key(s) removed`,
        });
        step.log(`${old.length} old key(s) removed`);
      });
    },
  };
}

type TokenField = keyof typeof tokenDescriptionOf;

/**
 * A new Consul token like the old one (same description, policies, node identities), recorded,
 * handed to its consumer by `deliver`, accepted by Consul; then every other token of that
 * description deleted (the old one, and any an interrupted rotation made).
 */
async function rotateConsulToken(
  run: RotationRun,
  field: TokenField,
  step: StepHandle,
  deliver: (token: string, apis: ClusterApis) => Promise<void>,
): Promise<void> {
  const old = run.config.secrets[field];
  if (!old)
    throw new OperationError(
      `${field} is missing from ${secretsPath(run.config.root, run.config.targetName)}`,
      "run bring-up: it generates the cluster's tokens",
    );
  await withCluster(run.config, { signal: step.signal }, async (apis) => {
    const current = await apis.consul.tokenOf(old);
    if (!current)
      throw new OperationError(
        `Consul refuses the ${field} of the secrets file (deleted, or never made)`,
        "run bring-up: it makes the token with that secret again; then rotate",
      );
    const token = randomUUID();
    registerSecret(token);
    const made = await apis.consul.createTokenLike(current, token);
    await recordSecret(run, field, token);
    step.log("a new token with the same rights, in the secrets file");
    await deliver(token, apis);
    if (!(await apis.consul.tokenOf(token)))
      throw new OperationError(`Consul does not accept the new ${field}`);
    const stale = tokensToDelete(
      await apis.consul.tokens(),
      tokenDescriptionOf[field],
      made.AccessorID,
    );
    for (const accessor of stale) await apis.consul.deleteToken(accessor);
    run.rotated.push({
      field,
      detail: `new token delivered, ${stale.length} old token(s) deleted`,
    });
    step.log(`${stale.length} old token(s) deleted`);
  });
}

/** The Consul agents' token: set in each agent at runtime (persisted by it), and in its file. */
export function rotateConsulAgentToken(): Step<RotationRun> {
  return {
    title: "The Consul agents' token (set at runtime, no restart)",
    needs: ["inventory"],
    run: (run, step) =>
      rotateConsulToken(run, "consulAgentToken", step, async (token) => {
        const hosts = hostsHolding(run, "consulAgentToken");
        for (const host of hosts)
          await withHostAgents(run.config, host, step.signal, (agent) =>
            agent.consul.setAgentToken("agent", token),
          );
        step.log(`set in the Consul agent of ${hosts.map((h) => h.name).join(", ")}`);
        await writeToConfigFiles(run, "consulAgentToken", token, step, hosts);
      }),
  };
}

/** Traefik's token: each worker's variable in turn, its Traefik restarted alone and proven. */
export function rotateTraefikToken(): Step<RotationRun> {
  return {
    title: "Traefik's Consul token (one worker at a time)",
    needs: ["inventory"],
    run: async (run, step) => {
      const inventory = given(run, "inventory");
      const workers = workersOf(inventory).map((w) => w.name);
      const ready = await withCluster(run.config, { signal: step.signal }, (apis) =>
        readsWorkerTokens(apis.nomad, workers),
      );
      if (!ready)
        throw new OperationError(
          "the ingress job still reads one token variable for every worker (it predates rotate)",
          "run bring-up first: it rolls the ingress onto a variable per worker; then rotate",
        );
      await rotateConsulToken(run, "consulTraefikToken", step, async (token, apis) => {
        for (const worker of workers)
          await renewWorkerToken({
            config: run.config,
            inventory,
            nomad: apis.nomad,
            worker,
            token,
            log: (l) => step.log(l),
            signal: step.signal,
          });
      });
    },
  };
}

/**
 * Nomad's Consul token: Nomad reads it only when it starts (a SIGHUP reloads TLS and logging,
 * not the Consul block), so each host's file gets it and its Nomad restarts, one host at a time,
 * workers first; each is back (its agent answers with a leader, a worker's node ready) before
 * the next. Allocations keep running through a Nomad restart.
 */
export function rotateNomadConsulToken(): Step<RotationRun> {
  return {
    title: "Nomad's Consul token (Nomad restarted one host at a time)",
    needs: ["inventory"],
    run: (run, step) =>
      rotateConsulToken(run, "consulNomadToken", step, async (token) => {
        const inventory = given(run, "inventory");
        const { file, setting } = configSettingOf.consulNomadToken;
        for (const host of [...workersOf(inventory), ...managersOf(inventory)]) {
          await onHost(run.config, host, step.signal, async (exec) => {
            await exec(
              setConfigValueCommand(file, setting),
              `set ${setting} in ${file}`,
              `${token}\n`,
            );
            await exec("systemctl restart nomad", "restart Nomad");
          });
          await waitForNomadBack(run, host, step.signal);
          run.restarted.push(`${host.name}: nomad`);
          step.log(`${host.name}: Nomad restarted with the new token, back`);
        }
      }),
  };
}

/** The host's Nomad answers with a leader; a worker's node is ready again. */
async function waitForNomadBack(
  run: RotationRun,
  host: InventoryHost,
  signal: AbortSignal,
): Promise<void> {
  await waitFor(
    {
      what: `Nomad on ${host.name} to be back`,
      timeoutMs: 90_000,
      intervalMs: 1000,
      signal,
      hint: `read its log: journalctl -u nomad on ${host.name}`,
    },
    async () => {
      try {
        return await withHostAgents(run.config, host, signal, async (agent) => {
          if (!(await agent.nomad.leader())) return notYet("no leader yet");
          if (host.role !== "worker") return done(true);
          const node = (await agent.nomad.nodes()).find((n) => n.Name === host.name);
          return node?.Status === "ready" ? done(true) : notYet(`node ${node?.Status ?? "absent"}`);
        });
      } catch (error) {
        return notYet((error as Error).message);
      }
    },
  );
}
