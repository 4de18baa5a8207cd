/**
 * Issue 12's table of what a user can get wrong (the command line, versions, cluster.yaml, the
 * secrets), each with its documented exit code and message. Cases marked needsCluster run in the
 * e2e (test/e2e/scenarios/bad-input.ts) against the running cluster; the others need none and run
 * in process in test/unit/cli/bad-input.test.ts, each in a project folder of its own.
 */
import { randomBytes, randomUUID } from "node:crypto";

type YamlPath = Array<string | number>;

export interface BadInputCase {
  name: string;
  args: string[];
  /** Changes to a copy of cluster.yaml, run with --config on the copy ("%t": the target). */
  cluster?: Array<[YamlPath, unknown]>;
  /** The copy's text instead, made from the original's. */
  clusterText?: (text: string) => string;
  /** The copy's secrets file instead, made from the original's. */
  secrets?: (text: string) => string;
  env?: Record<string, string>;
  /** --config and --target instead of the project's. */
  config?: string;
  target?: string;
  /** Breaks the world before the run; what it returns puts it back (and waits until healthy). */
  breakWorld?: (folder: string) => Promise<() => Promise<void>>;
  /** Its message needs the running cluster (versions, recorded hosts): run in the e2e only. */
  needsCluster?: boolean;
  exitCode: number;
  message: RegExp;
  /** A value that must appear nowhere in the output (a wrong token, a password). */
  secret?: string;
  timeoutMs?: number;
}

export const deploy = (version: string) => ["deploy", `elm-lang.org@${version}`, "--yes"];
const wrongToken = randomUUID();
const rotatedKey = randomBytes(32).toString("base64");

/** 10 levels of 10 aliases: 10^10 nodes once expanded. */
function laughs(): string {
  const lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i < 10; i++)
    lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(", ")}]`);
  return lines.join("\n");
}

/** The table's shape: a refusal with exit 2 (a usage or configuration error) and its message. */
function refused(
  name: string,
  args: string[],
  message: RegExp,
  more: Partial<BadInputCase> = {},
): BadInputCase {
  return { name, args, exitCode: 2, message, ...more };
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A deploy refused for its version, which the message quotes as the CLI shows it. */
const badVersion = (name: string, version: string, shown = version) =>
  refused(
    name,
    deploy(version),
    new RegExp(`invalid version "${escaped(shown)}": a version is an image tag`),
  );

/** `status` on a copy of cluster.yaml whose target has `value` at `path`. */
const badTarget = (name: string, path: YamlPath, value: unknown, message: RegExp) =>
  refused(name, ["status"], message, { cluster: [[["targets", "%t", ...path], value]] });

/** `status` on a copy of cluster.yaml made from the original's text. */
const badClusterText = (name: string, clusterText: (text: string) => string, message: RegExp) =>
  refused(name, ["status"], message, { clusterText });

/** A deploy of elm-lang.org from a copy of cluster.yaml whose service has `value` at `path`. */
const badService = (
  name: string,
  path: YamlPath,
  value: unknown,
  message: RegExp,
  more: Partial<BadInputCase> = {},
) =>
  refused(name, deploy("1.0.1"), message, {
    cluster: [[["services", "elm-lang.org", ...path], value]],
    ...more,
  });

/** `status` with a copy of the secrets file made from the original's text. */
const badSecrets = (
  name: string,
  secrets: (text: string) => string,
  message: RegExp,
  secret?: string,
) => refused(name, ["status"], message, { secrets, secret });

/** What a user can get wrong: read-only refusals, run several at once. */
export const badInputCases: BadInputCase[] = [
  // ---- the command line ----
  refused("an unknown command", ["frobnicate"], /unknown command 'frobnicate'/),
  refused(
    "an unknown option",
    ["deploy", "elm-lang.org@1.0.1", "--frobnicate"],
    /unknown option '--frobnicate'/,
  ),
  refused(
    "deploy without its argument",
    ["deploy", "--yes"],
    /missing required argument 'service@version'/,
  ),
  refused(
    "deploy without --yes and no terminal",
    ["deploy", "elm-lang.org@1.0.1"],
    /this would deploy elm-lang\.org@1\.0\.1 \(now 1\.0\.0\).+no one is here to confirm/,
    { needsCluster: true },
  ),
  refused(
    "deploy of an unknown service",
    deploy("1.0.1").map((a) => a.replace("elm-lang.org", "nope.org")),
    /unknown service "nope\.org"/,
  ),
  refused("an unknown target", ["status"], /unknown target "nope"/, { target: "nope" }),
  refused("a missing cluster.yaml", ["status"], /\/nonexistent\/cluster\.yaml/, {
    config: "/nonexistent/cluster.yaml",
  }),
  refused(
    "deploy --build without --context",
    ["deploy", "elm-lang.org@1.0.1", "--build", "--yes"],
    /missing --context: the folder holding elm-lang\.org's build output/,
  ),
  refused(
    "deploy --build from a missing context",
    ["deploy", "elm-lang.org@1.0.1", "--build", "--context", "/nonexistent/site", "--yes"],
    /\/nonexistent\/site/,
  ),
  refused("status of an unknown service", ["status", "nope.org"], /unknown service "nope\.org"/),
  refused(
    "rollback of an unknown service",
    ["rollback", "nope.org", "--yes"],
    /unknown service "nope\.org"/,
  ),
  refused(
    "rollback to a version never deployed",
    ["rollback", "elm-lang.org@9.9.9", "--yes"],
    /no earlier job version of elm-lang\.org ran 9\.9\.9\nversions Nomad still knows: 1\.0\.0/,
    { needsCluster: true },
  ),
  refused(
    "rollback --entry with a version besides",
    ["rollback", "elm-lang.org@1.0.0", "--entry", "20261206T101500123Z-3fa2", "--yes"],
    /rollback elm-lang\.org@1\.0\.0 --entry 20261206T101500123Z-3fa2: the entry names the version; give the service alone/,
  ),
  refused("history of an unknown service", ["history", "nope.org"], /unknown service "nope\.org"/),
  refused(
    "history --limit 0",
    ["history", "--limit", "0"],
    /--limit takes a whole number from 1 to 9999/,
  ),
  refused(
    "probe of a hostname no service serves",
    ["probe", "nope.org"],
    /unknown hostname "nope\.org": no service of target [\w-]+ serves it/,
  ),
  refused(
    "probe with a negative --seconds",
    ["probe", "elm-lang.org", "--seconds", "-1"],
    /--seconds/,
  ),
  refused(
    "scale to an even number of managers",
    ["scale", "--managers", "2", "--yes"],
    /cannot scale target [\w-]+ to 2 managers: .+ need an odd number/,
  ),
  refused(
    "replace of a host that is not in the target",
    ["replace", "nope-host-1", "--yes"],
    /nope-host-1/,
    { needsCluster: true },
  ),
  refused(
    "rotate with a rotated secret set in the environment (the file it writes would lose)",
    ["rotate", "--yes"],
    /the environment sets ELM_INFRA_CONSUL_GOSSIP_KEY \(consulGossipKey\), which would win over it/,
    { env: { ELM_INFRA_CONSUL_GOSSIP_KEY: rotatedKey }, secret: rotatedKey },
  ),
  refused(
    "backup of a service without data",
    ["backup", "elm-lang.org"],
    /elm-lang\.org keeps no data on a volume: nothing to back up\nservices with data: package\.elm-lang\.org/,
  ),
  refused(
    "backup cluster of a target never brought up",
    ["backup", "cluster"],
    /target [\w-]+ has no hosts yet\nbring it up first: elm-infra bring-up --target [\w-]+/,
  ),
  badTarget(
    "cluster snapshots on a schedule that is not cron",
    ["snapshots"],
    { schedule: "every hour" },
    /targets\.[\w-]+\.snapshots\.schedule: must be a cron schedule/,
  ),
  refused(
    "a service named cluster (backup cluster means the cluster's own state)",
    ["status"],
    /services: must not name a service 'cluster'/,
    {
      cluster: [
        [
          ["services", "cluster"],
          {
            job: "jobs/elm-lang.org.nomad.hbs",
            image: "elm-lang.org",
            hostnames: ["cluster.elm-lang.org"],
            healthPath: "/health",
            port: 8080,
            count: 1,
            resources: { cpu: 50, memory: 64 },
          },
        ],
      ],
    },
  ),
  refused(
    "restore from a missing file",
    ["restore", "package.elm-lang.org", "/nonexistent/backup.tar.gz", "--yes"],
    /\/nonexistent\/backup\.tar\.gz/,
  ),

  // ---- versions ----
  badVersion("a version left empty", ""),
  badVersion("a version with a path in it", "../../etc/passwd"),
  badVersion("a version with a shell command in it", "1.0.0;rm -rf /"),
  badVersion("a version with a command substitution", "$(id)"),
  badVersion("a version with a newline", "1.0.0\nmalicious: true", "1.0.0\\nmalicious: true"),
  badVersion("a version of 300 characters", "1".repeat(300), `${"1".repeat(60)}…`),
  badVersion("two @ in the argument", "1.0.0@2"),
  refused(
    "an ingress version that is not Traefik's",
    ["deploy", "ingress@latest;x", "--yes"],
    /invalid version "latest;x": a version is an image tag/,
  ),

  // ---- configuration: a copy of cluster.yaml ----
  badClusterText(
    "cluster.yaml with a YAML syntax error",
    (t) => `${t}\n  : [unclosed\n`,
    /cluster\.yaml:\d+:\d+: YAML syntax error/,
  ),
  badClusterText(
    "an empty cluster.yaml",
    () => "",
    /cluster\.yaml:1:1: YAML syntax error: .+ the input is empty/,
  ),
  badTarget("a negative worker count", ["workers"], -1, /targets\.[\w-]+\.workers/),
  badTarget("an even manager count", ["managers"], 2, /targets\.[\w-]+\.managers/),
  badTarget(
    "an unknown provider",
    ["provider"],
    "aws",
    /targets\.[\w-]+\.provider: Invalid option: expected one of "digitalocean"\|"local"/,
  ),
  badTarget("an unknown field", ["wrokers"], 2, /targets\.[\w-]+\.wrokers: unknown field/),
  badTarget(
    "a subnet that is not one",
    ["network", "subnet"],
    "10.0.0.0/99",
    /targets\.[\w-]+\.network\.subnet: must be an address range/,
  ),
  badClusterText(
    "a __proto__ key",
    (t) => t.replace("services:\n", "services:\n  __proto__: { job: x }\n"),
    /services\.__proto__: is not a name elm-infra accepts/,
  ),
  badClusterText(
    "a billion laughs",
    (t) => `${laughs()}\n${t}`,
    /its aliases \(\*name\) expand to more than 100000 nodes/,
  ),
  badClusterText(
    "a cluster.yaml over 1 MB",
    (t) => `${t}\n# ${"x".repeat(1_100_000)}\n`,
    /cluster\.yaml: is larger than 1 MB/,
  ),
  badTarget(
    "a registry that is not an address",
    ["registry"],
    "not a registry!",
    /targets\.[\w-]+\.registry: must be a registry address/,
  ),

  // ---- template values: the services section ----
  badService(
    "a service port out of range",
    ["port"],
    70000,
    /services\.elm-lang\.org\.port: Too big: expected number to be <=65535/,
  ),
  badService(
    "a negative count",
    ["count"],
    -2,
    /services\.elm-lang\.org\.count: Too small: expected number to be >=1/,
  ),
  badService(
    "a hostname with a backtick (a Traefik rule injection)",
    ["hostnames"],
    ["elm-lang.org`) || Host(`evil.org"],
    /services\.elm-lang\.org\.hostnames\.0: must be a lower-case DNS name/,
  ),
  badService(
    "a health path that is not a path",
    ["healthPath"],
    'health"; exit',
    /services\.elm-lang\.org\.healthPath: must be a path like \/health/,
  ),
  badService(
    "a duration that is not one",
    ["update", "minHealthyTime"],
    "banana",
    /services\.elm-lang\.org\.update\.minHealthyTime: must be a duration like 10s/,
  ),
  badService(
    "a job template that does not exist",
    ["job"],
    "jobs/nope.nomad.hbs",
    /jobs\/nope\.nomad\.hbs/,
    { needsCluster: true },
  ),
  badService(
    "a healthy deadline past the progress deadline (Nomad would refuse it)",
    ["update", "healthyDeadline"],
    "90s",
    /services\.elm-lang\.org\.update\.healthyDeadline: healthyDeadline \(90s\) must be shorter than progressDeadline \(60s\)/,
    { needsCluster: true },
  ),
  badService(
    "memory below the 16 MB Nomad needs",
    ["resources", "memory"],
    1,
    /services\.elm-lang\.org\.resources\.memory: Too small: expected number to be >=16/,
  ),

  // ---- secrets: a copy of the secrets file, or the environment ----
  badSecrets(
    "a secrets file with a YAML syntax error",
    (t) => `${t}\nnomadToken: [unclosed\n`,
    /secrets\/[\w-]+\.yaml:\d+/,
  ),
  badSecrets(
    "a token that is not a UUID",
    (t) => t.replace(/nomadToken: .*/, 'nomadToken: "not-a-uuid"'),
    /nomadToken: must be a Nomad ACL secret ID/,
    "not-a-uuid",
  ),
  badSecrets(
    "a webhook URL that is not http(s)",
    (t) => `${t}\nnotifyWebhookUrl: "ftp://hooks.example/T0KEN-a1b2c3d4"\n`,
    /notifyWebhookUrl: must be an http:\/\/ or https:\/\/ URL/,
    "T0KEN-a1b2c3d4",
  ),
  badSecrets(
    "an unknown key in the secrets file",
    (t) => `${t}\nnomadTokn: "${wrongToken}"\n`,
    /secrets\/[\w-]+\.yaml: nomadTokn: unknown field/,
    wrongToken,
  ),
  refused(
    "a token from the environment that is not a UUID",
    ["status"],
    /environment: ELM_INFRA_NOMAD_TOKEN: must be a Nomad ACL secret ID \(a UUID\)/,
    { env: { ELM_INFRA_NOMAD_TOKEN: "hunter2-not-a-uuid" }, secret: "hunter2-not-a-uuid" },
  ),
];
