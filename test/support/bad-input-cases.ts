/**
 * Issue 12's table of what a user can get wrong (the command line, versions, cluster.yaml, the
 * secrets), each with its documented exit code and message. Cases marked needsCluster run in the
 * e2e (test/e2e/scenarios/bad-input.ts) against the running cluster; the others need none and run
 * in process in test/unit/cli/bad-input.test.ts, each in a project folder of its own.
 */
import { randomUUID } from "node:crypto";

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

/** 10 levels of 10 aliases: 10^10 nodes once expanded. */
function laughs(): string {
  const lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i < 10; i++)
    lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(", ")}]`);
  return lines.join("\n");
}

/** What a user can get wrong: read-only refusals, run several at once. */
export const badInputCases: BadInputCase[] = [
  // ---- the command line ----
  {
    name: "an unknown command",
    args: ["frobnicate"],
    exitCode: 2,
    message: /unknown command 'frobnicate'/,
  },
  {
    name: "an unknown option",
    args: ["deploy", "elm-lang.org@1.0.1", "--frobnicate"],
    exitCode: 2,
    message: /unknown option '--frobnicate'/,
  },
  {
    name: "deploy without its argument",
    args: ["deploy", "--yes"],
    exitCode: 2,
    message: /missing required argument 'service@version'/,
  },
  {
    name: "deploy without --yes and no terminal",
    needsCluster: true,
    args: ["deploy", "elm-lang.org@1.0.1"],
    exitCode: 2,
    message: /this would deploy elm-lang\.org@1\.0\.1 \(now 1\.0\.0\).+no one is here to confirm/,
  },
  {
    name: "deploy of an unknown service",
    args: deploy("1.0.1").map((a) => a.replace("elm-lang.org", "nope.org")),
    exitCode: 2,
    message: /unknown service "nope\.org"/,
  },
  {
    name: "an unknown target",
    args: ["status"],
    target: "nope",
    exitCode: 2,
    message: /unknown target "nope"/,
  },
  {
    name: "a missing cluster.yaml",
    args: ["status"],
    config: "/nonexistent/cluster.yaml",
    exitCode: 2,
    message: /\/nonexistent\/cluster\.yaml/,
  },
  {
    name: "deploy --build without --context",
    args: ["deploy", "elm-lang.org@1.0.1", "--build", "--yes"],
    exitCode: 2,
    message: /missing --context: the folder holding elm-lang\.org's build output/,
  },
  {
    name: "deploy --build from a missing context",
    args: ["deploy", "elm-lang.org@1.0.1", "--build", "--context", "/nonexistent/site", "--yes"],
    exitCode: 2,
    message: /\/nonexistent\/site/,
  },
  {
    name: "status of an unknown service",
    args: ["status", "nope.org"],
    exitCode: 2,
    message: /unknown service "nope\.org"/,
  },
  {
    name: "rollback of an unknown service",
    args: ["rollback", "nope.org", "--yes"],
    exitCode: 2,
    message: /unknown service "nope\.org"/,
  },
  {
    name: "rollback to a version never deployed",
    needsCluster: true,
    args: ["rollback", "elm-lang.org@9.9.9", "--yes"],
    exitCode: 2,
    message:
      /no earlier job version of elm-lang\.org ran 9\.9\.9\nversions Nomad still knows: 1\.0\.0/,
  },
  {
    name: "probe of a hostname no service serves",
    args: ["probe", "nope.org"],
    exitCode: 2,
    message: /unknown hostname "nope\.org": no service of target [\w-]+ serves it/,
  },
  {
    name: "probe with a negative --seconds",
    args: ["probe", "elm-lang.org", "--seconds", "-1"],
    exitCode: 2,
    message: /--seconds/,
  },
  {
    name: "scale to an even number of managers",
    args: ["scale", "--managers", "2", "--yes"],
    exitCode: 2,
    message: /cannot scale target [\w-]+ to 2 managers: .+ need an odd number/,
  },
  {
    name: "replace of a host that is not in the target",
    needsCluster: true,
    args: ["replace", "nope-host-1", "--yes"],
    exitCode: 2,
    message: /nope-host-1/,
  },
  {
    name: "backup of a service without data",
    args: ["backup", "elm-lang.org"],
    exitCode: 2,
    message:
      /elm-lang\.org keeps no data on a volume: nothing to back up\nservices with data: package\.elm-lang\.org/,
  },
  {
    name: "restore from a missing file",
    args: ["restore", "package.elm-lang.org", "/nonexistent/backup.tar.gz", "--yes"],
    exitCode: 2,
    message: /\/nonexistent\/backup\.tar\.gz/,
  },

  // ---- versions ----
  {
    name: "a version left empty",
    args: deploy(""),
    exitCode: 2,
    message: /invalid version "": a version is an image tag/,
  },
  {
    name: "a version with a path in it",
    args: deploy("../../etc/passwd"),
    exitCode: 2,
    message: /invalid version "\.\.\/\.\.\/etc\/passwd": a version is an image tag/,
  },
  {
    name: "a version with a shell command in it",
    args: deploy("1.0.0;rm -rf /"),
    exitCode: 2,
    message: /invalid version "1\.0\.0;rm -rf \/": a version is an image tag/,
  },
  {
    name: "a version with a command substitution",
    args: deploy("$(id)"),
    exitCode: 2,
    message: /invalid version "\$\(id\)": a version is an image tag/,
  },
  {
    name: "a version with a newline",
    args: deploy("1.0.0\nmalicious: true"),
    exitCode: 2,
    message: /invalid version "1\.0\.0\\nmalicious: true": a version is an image tag/,
  },
  {
    name: "a version of 300 characters",
    args: deploy("1".repeat(300)),
    exitCode: 2,
    message: /invalid version "1{60}…": a version is an image tag/,
  },
  {
    name: "two @ in the argument",
    args: deploy("1.0.0@2"),
    exitCode: 2,
    message: /invalid version "1\.0\.0@2": a version is an image tag/,
  },
  {
    name: "an ingress version that is not Traefik's",
    args: ["deploy", "ingress@latest;x", "--yes"],
    exitCode: 2,
    message: /invalid version "latest;x": a version is an image tag/,
  },

  // ---- configuration: a copy of cluster.yaml ----
  {
    name: "cluster.yaml with a YAML syntax error",
    args: ["status"],
    clusterText: (t) => `${t}\n  : [unclosed\n`,
    exitCode: 2,
    message: /cluster\.yaml:\d+:\d+: YAML syntax error/,
  },
  {
    name: "an empty cluster.yaml",
    args: ["status"],
    clusterText: () => "",
    exitCode: 2,
    message: /cluster\.yaml:1:1: YAML syntax error: .+ the input is empty/,
  },
  {
    name: "a negative worker count",
    args: ["status"],
    cluster: [[["targets", "%t", "workers"], -1]],
    exitCode: 2,
    message: /targets\.[\w-]+\.workers/,
  },
  {
    name: "an even manager count",
    args: ["status"],
    cluster: [[["targets", "%t", "managers"], 2]],
    exitCode: 2,
    message: /targets\.[\w-]+\.managers/,
  },
  {
    name: "an unknown provider",
    args: ["status"],
    cluster: [[["targets", "%t", "provider"], "aws"]],
    exitCode: 2,
    message: /targets\.[\w-]+\.provider: Invalid option: expected one of "digitalocean"\|"local"/,
  },
  {
    name: "an unknown field",
    args: ["status"],
    cluster: [[["targets", "%t", "wrokers"], 2]],
    exitCode: 2,
    message: /targets\.[\w-]+\.wrokers: unknown field/,
  },
  {
    name: "a subnet that is not one",
    args: ["status"],
    cluster: [[["targets", "%t", "network", "subnet"], "10.0.0.0/99"]],
    exitCode: 2,
    message: /targets\.[\w-]+\.network\.subnet: must be an address range/,
  },
  {
    name: "a __proto__ key",
    args: ["status"],
    clusterText: (t) => t.replace("services:\n", "services:\n  __proto__: { job: x }\n"),
    exitCode: 2,
    message: /services\.__proto__: is not a name elm-infra accepts/,
  },
  {
    name: "a billion laughs",
    args: ["status"],
    clusterText: (t) => `${laughs()}\n${t}`,
    exitCode: 2,
    message: /its aliases \(\*name\) expand to more than 100000 nodes/,
  },
  {
    name: "a cluster.yaml over 1 MB",
    args: ["status"],
    clusterText: (t) => `${t}\n# ${"x".repeat(1_100_000)}\n`,
    exitCode: 2,
    message: /cluster\.yaml: is larger than 1 MB/,
  },
  {
    name: "a registry that is not an address",
    args: ["status"],
    cluster: [[["targets", "%t", "registry"], "not a registry!"]],
    exitCode: 2,
    message: /targets\.[\w-]+\.registry: must be 'local' or a registry address/,
  },

  // ---- template values: the services section ----
  {
    name: "a service port out of range",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "port"], 70000]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.port: Too big: expected number to be <=65535/,
  },
  {
    name: "a negative count",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "count"], -2]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.count: Too small: expected number to be >=1/,
  },
  {
    name: "a hostname with a backtick (a Traefik rule injection)",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "hostnames"], ["elm-lang.org`) || Host(`evil.org"]]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.hostnames\.0: must be a lower-case DNS name/,
  },
  {
    name: "a health path that is not a path",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "healthPath"], 'health"; exit']],
    exitCode: 2,
    message: /services\.elm-lang\.org\.healthPath: must be a path like \/health/,
  },
  {
    name: "a duration that is not one",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "update", "minHealthyTime"], "banana"]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.update\.minHealthyTime: must be a duration like 10s/,
  },
  {
    name: "a job template that does not exist",
    needsCluster: true,
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "job"], "jobs/nope.nomad.hbs"]],
    exitCode: 2,
    message: /jobs\/nope\.nomad\.hbs/,
  },

  {
    name: "a healthy deadline past the progress deadline (Nomad would refuse it)",
    needsCluster: true,
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "update", "healthyDeadline"], "90s"]],
    exitCode: 2,
    message:
      /services\.elm-lang\.org\.update\.healthyDeadline: healthyDeadline \(90s\) must be shorter than progressDeadline \(60s\)/,
  },
  {
    name: "memory below the 16 MB Nomad needs",
    args: deploy("1.0.1"),
    cluster: [[["services", "elm-lang.org", "resources", "memory"], 1]],
    exitCode: 2,
    message: /services\.elm-lang\.org\.resources\.memory: Too small: expected number to be >=16/,
  },

  // ---- secrets: a copy of the secrets file, or the environment ----
  {
    name: "a secrets file with a YAML syntax error",
    args: ["status"],
    secrets: (t) => `${t}\nnomadToken: [unclosed\n`,
    exitCode: 2,
    message: /secrets\/[\w-]+\.yaml:\d+/,
  },
  {
    name: "a token that is not a UUID",
    args: ["status"],
    secrets: (t) => t.replace(/nomadToken: .*/, 'nomadToken: "not-a-uuid"'),
    exitCode: 2,
    message: /nomadToken: must be a Nomad ACL secret ID/,
    secret: "not-a-uuid",
  },
  {
    name: "an unknown key in the secrets file",
    args: ["status"],
    secrets: (t) => `${t}\nnomadTokn: "${wrongToken}"\n`,
    exitCode: 2,
    message: /secrets\/[\w-]+\.yaml: nomadTokn: unknown field/,
    secret: wrongToken,
  },
  {
    name: "a token from the environment that is not a UUID",
    args: ["status"],
    env: { ELM_INFRA_NOMAD_TOKEN: "hunter2-not-a-uuid" },
    exitCode: 2,
    message: /environment: ELM_INFRA_NOMAD_TOKEN: must be a Nomad ACL secret ID \(a UUID\)/,
    secret: "hunter2-not-a-uuid",
  },
];
