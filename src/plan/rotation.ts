/**
 * Rotation of the cluster secrets elm-infra made (pure): which secrets, in what order, what each
 * step does, and the exact command that puts a new value into an agent's configuration file.
 *
 * The order keeps every agent accepting the old and the new value at each point: a gossip key is
 * installed before it is used and removed last; a token is created, written to the secrets file,
 * delivered and proven before the old one is deleted. An interrupted rotation leaves a working
 * cluster, and the next `rotate` finishes it: it removes every key but the new one and deletes
 * every token of the same description but the new one.
 */
import type { ClusterSecretField } from "./secrets.js";

/** The secrets `rotate` renews, in the order it renews them. */
export const rotatedSecretFields = [
  "consulGossipKey",
  "nomadGossipKey",
  "consulAgentToken",
  "consulTraefikToken",
  "consulNomadToken",
] as const satisfies readonly ClusterSecretField[];
export type RotatedField = (typeof rotatedSecretFields)[number];

/** The cluster secrets `rotate` leaves alone, and why (said by --dry-run and the docs). */
export const notRotated: ReadonlyArray<{ what: string; why: string }> = [
  {
    what: "consulToken, nomadToken",
    why: "the operator's management tokens: elm-infra and you reach the cluster with them",
  },
  {
    what: "the ACME issuer's token",
    why: "a Nomad workload identity, made by Nomad for each allocation: no token elm-infra made",
  },
];

/** Where an agent keeps a rotated value: its configuration file and the setting's name. */
export interface ConfigSetting {
  file: string;
  setting: string;
  /** Which hosts have it. */
  on: "every host" | "managers";
}

export const consulConfigFile = "/etc/consul.d/consul.hcl";
export const nomadConfigFile = "/etc/nomad.d/nomad.hcl";

/** The fields an agent's configuration file holds (Traefik's is a Nomad variable per worker). */
export type ConfiguredField = Exclude<RotatedField, "consulTraefikToken">;

/** The settings playbooks/roles/{consul,nomad}/templates write each rotated value to. */
export const configSettingOf: Record<ConfiguredField, ConfigSetting> = {
  consulGossipKey: { file: consulConfigFile, setting: "encrypt", on: "every host" },
  nomadGossipKey: { file: nomadConfigFile, setting: "encrypt", on: "managers" },
  consulAgentToken: { file: consulConfigFile, setting: "agent", on: "every host" },
  consulNomadToken: { file: nomadConfigFile, setting: "token", on: "every host" },
};

/** The Consul token's description, as the playbook makes it (roles/consul/defaults). */
export const tokenDescriptionOf: Record<Extract<RotatedField, `consul${string}Token`>, string> = {
  consulAgentToken: "elm-infra: Consul agents",
  consulNomadToken: "elm-infra: Nomad agents",
  consulTraefikToken: "elm-infra: Traefik",
};

export interface RotationHosts {
  managers: readonly string[];
  workers: readonly string[];
}

export interface RotationStepPlan {
  field: RotatedField;
  title: string;
  /** What the step does, in order, as --dry-run lists it. */
  actions: string[];
  /** Agents restarted, one at a time, in this order (only Nomad's Consul token needs it). */
  restarts: string[];
}

/** Pure: the rotation's steps for these hosts, in order, each with what it does. */
export function planRotation(hosts: RotationHosts, secretsFile: string): RotationStepPlan[] {
  const all = [...hosts.managers, ...hosts.workers];
  const where = (field: ConfiguredField) => {
    const s = configSettingOf[field];
    const on = s.on === "managers" ? hosts.managers : all;
    return `${s.setting} in ${s.file} on ${on.join(", ")}`;
  };
  return [
    {
      field: "consulGossipKey",
      title: "Consul's gossip key",
      actions: [
        "generate a new key; install it on every Consul agent (each then accepts both keys)",
        `write it to ${secretsFile} and to ${where("consulGossipKey")}`,
        "make it the key every agent encrypts with",
        "remove every other key from the keyring (no agent restarts)",
      ],
      restarts: [],
    },
    {
      field: "nomadGossipKey",
      title: "Nomad's gossip key",
      actions: [
        "generate a new key; install it on every Nomad server",
        `write it to ${secretsFile} and to ${where("nomadGossipKey")}`,
        "make it the key the servers encrypt with",
        "remove every other key from the keyring (no agent restarts)",
      ],
      restarts: [],
    },
    {
      field: "consulAgentToken",
      title: "The Consul agents' token",
      actions: [
        "create a new token with the old one's node identities and policies",
        `write it to ${secretsFile}`,
        `set it in every Consul agent at runtime (its agent token) and in ${where("consulAgentToken")}`,
        "prove Consul accepts it; delete the old token (no agent restarts)",
      ],
      restarts: [],
    },
    {
      field: "consulTraefikToken",
      title: "Traefik's Consul token",
      actions: [
        "create a new token with the old one's policies",
        `write it to ${secretsFile}`,
        `one worker at a time (${hosts.workers.join(", ")}): write it to that worker's Nomad variable; its Traefik alone restarts (out of the load balancer first), proven routing the catalog before the next`,
        "delete the old token",
      ],
      restarts: [],
    },
    {
      field: "consulNomadToken",
      title: "Nomad's Consul token",
      actions: [
        "create a new token with the old one's policies",
        `write it to ${secretsFile} and to ${where("consulNomadToken")}`,
        `restart Nomad one host at a time (${[...hosts.workers, ...hosts.managers].join(", ")}), each back before the next: Nomad reads its Consul token only at start (a SIGHUP does not reload it); the allocations keep running`,
        "delete the old token",
      ],
      restarts: [...hosts.workers, ...hosts.managers],
    },
  ];
}

/** Pure: the dry run's listing, one line a step and an indented line an action. */
export function describeRotation(plan: readonly RotationStepPlan[]): string[] {
  return [
    ...plan.flatMap((s) => [`${s.title} (${s.field}):`, ...s.actions.map((a) => `  - ${a}`)]),
    ...notRotated.map((n) => `not rotated: ${n.what} (${n.why})`),
  ];
}

/** Pure: the keys to remove once `keep` is the primary key: every other one installed. */
export function keysToRemove(installed: Iterable<string>, keep: string): string[] {
  return [...new Set(installed)].filter((k) => k !== keep);
}

/** Pure: the tokens to delete once `keep` is delivered: every other one of the same description. */
export function tokensToDelete(
  tokens: ReadonlyArray<{ AccessorID: string; Description?: string | undefined }>,
  description: string,
  keep: string,
): string[] {
  return tokens
    .filter((t) => t.Description === description && t.AccessorID !== keep)
    .map((t) => t.AccessorID);
}

/**
 * The shell command that sets `setting = "<value>"` in an agent's configuration file as the
 * playbook's template writes it (the same line, so a later bring-up finds nothing to change and
 * restarts nothing). The value comes on stdin, never in argv; the file keeps its owner and mode
 * (rewritten in place). Prints "changed" or "unchanged"; fails unless the setting is there once.
 */
export function setConfigValueCommand(file: string, setting: string): string {
  if (!/^[a-z_]+$/.test(setting) || !/^\/[A-Za-z0-9_./-]+$/.test(file))
    throw new Error(`setConfigValueCommand: unexpected setting ${setting} or file ${file}`);
  const script = [
    "import re, sys",
    "path, name = sys.argv[1], sys.argv[2]",
    "value = sys.stdin.readline().strip()",
    'pattern = re.compile(r"^(\\s*" + re.escape(name) + r"\\s*=\\s*)\\"[^\\"]*\\"", re.M)',
    "text = open(path).read()",
    "found = len(pattern.findall(text))",
    'if found != 1: sys.exit("%s: %d settings named %s, expected 1" % (path, found, name))',
    "new = pattern.sub(lambda m: m.group(1) + chr(34) + value + chr(34), text)",
    "if new != text:",
    '    f = open(path, "r+"); f.write(new); f.truncate(); f.close()',
    'print("changed" if new != text else "unchanged")',
  ].join("\n");
  return `python3 -c '${script}' ${file} ${setting}`;
}
