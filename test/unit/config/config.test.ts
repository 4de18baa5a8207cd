import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "js-yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  hostnamesOf,
  loadConfig,
  pickTarget,
  readClusterFile,
  readSecrets,
  writeSecrets,
} from "../../../src/config/load.js";
import { targetPaths } from "../../../src/cluster/paths.js";
import { parseCluster, parseSecrets, parseYaml } from "../../../src/config/parse.js";
import { ConfigError, ExitCode, UsageError, formatProblem } from "../../../src/errors.js";
import { forgetSecrets, redact } from "../../../src/output/redact.js";
import { ageIdentity, ageRecipient } from "../../../src/plan/age.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const fixtures = join(repo, "test/fixtures/config");
const repoCluster = join(repo, "cluster.yaml");

/** A valid cluster document to break one field at a time (any field, to any type: hence `any`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function validDoc(): Record<string, any> {
  return {
    defaultTarget: "local",
    targets: {
      local: {
        provider: "local",
        region: "local",
        image: "elm-infra/host:bookworm",
        sizes: { manager: "local", worker: "local" },
        managers: 1,
        workers: 2,
        registry: { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" },
        ssh: { privateKey: ".elm-infra/local/id_ed25519" },
      },
    },
    services: {
      "elm-lang.org": {
        job: "jobs/elm-lang.org.nomad.hbs",
        image: "elm-lang.org",
        hostnames: ["elm-lang.org", "www.elm-lang.org"],
        healthPath: "/health",
        port: 8080,
        count: 2,
        resources: { cpu: 200, memory: 128 },
      },
    },
  };
}

/** Adds a `production` target on DigitalOcean, the local one's settings with `over`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function withDigitalOcean(doc: Record<string, any>, over: Record<string, unknown>): void {
  doc.targets.production = {
    ...doc.targets.local,
    provider: "digitalocean",
    registry: "registry.digitalocean.com/elm",
    ...over,
  };
}

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

const uuid = "3f1c9a2e-7b4d-4e8a-9c1f-2d5b6a7e8f90";
const otherUuid = "0b8e4c2a-1d3f-4a5b-8c7d-9e0f1a2b3c4d";
const adaRecipient = ageRecipient(ageIdentity(new Uint8Array(32).fill(1)));
const bobRecipient = ageRecipient(ageIdentity(new Uint8Array(32).fill(2)));

describe("the repository's cluster.yaml", () => {
  it("parses, with defaults filled in", async () => {
    const cluster = await readClusterFile(repoCluster);
    expect(Object.keys(cluster.targets)).toEqual(expect.arrayContaining(["local", "production"]));
    expect(Object.keys(cluster.services)).toEqual(
      expect.arrayContaining(["elm-lang.org", "package.elm-lang.org"]),
    );
    expect(cluster.defaultTarget).toBe("local");
    expect(cluster.targets.production!.managers % 2).toBe(1);
    expect(cluster.targets.local!.ssh.port).toBe(22);
    expect(cluster.terraform.binary).toBe("auto");
  });
});

describe("YAML syntax errors", () => {
  it("name file:line:column (1-based) and are usage errors (exit 2)", async () => {
    const file = join(fixtures, "syntax-error.yaml");
    const error = await rejectionOf(readClusterFile(file));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(ExitCode.Usage);
    expect(error.message).toContain(`${file}:4:20: YAML syntax error`);
    expect((error as ConfigError).hint).toMatch(/YAML syntax/);
  });

  it.each([
    ["a: 1\nb: c: d\n", 2, 5],
    ["a: 1\n  b: 2\n", 2, 4],
    ["a: 1\na: 2\n", 2, 1],
    ["a: 1\n\tb: 2\n", 2, 1],
  ])("%j -> line %i column %i", (text, line, column) => {
    const error = configErrorOf(() => parseYaml(text, "c.yaml"));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file: "c.yaml", line, column, path: "" });
    expect(error.message).toContain(`c.yaml:${line}:${column}: YAML syntax error`);
  });

  it("a missing file says how to point at one", async () => {
    const error = await rejectionOf(readClusterFile("/nonexistent/cluster.yaml"));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("/nonexistent/cluster.yaml: cannot read the file");
    expect((error as ConfigError).hint).toContain("--config");
  });
});

describe("invalid fields name their dotted path", () => {
  type Doc = ReturnType<typeof validDoc>;
  it.each<[string, (d: Doc) => void, string, RegExp]>([
    [
      "wrong type",
      (d) => (d.targets.local.workers = "two"),
      "targets.local.workers",
      /expected number/,
    ],
    [
      "wrong type (nested)",
      (d) => (d.services["elm-lang.org"].resources.cpu = "lots"),
      "services.elm-lang.org.resources.cpu",
      /expected number/,
    ],
    ["unknown field", (d) => (d.targets.local.sizs = {}), "targets.local.sizs", /unknown field/],
    ["unknown top-level field", (d) => (d.colour = "blue"), "colour", /unknown field/],
    [
      "even manager count",
      (d) => (d.targets.local.managers = 2),
      "targets.local.managers",
      /must be odd/,
    ],
    ["too many managers", (d) => (d.targets.local.managers = 9), "targets.local.managers", /7/],
    ["zero workers", (d) => (d.targets.local.workers = 0), "targets.local.workers", /1/],
    [
      "bad hostname",
      (d) => (d.services["elm-lang.org"].hostnames = ["Elm_Lang.org"]),
      "services.elm-lang.org.hostnames.0",
      /DNS name/,
    ],
    [
      "hostname that escapes a Host() rule",
      (d) => (d.services["elm-lang.org"].hostnames = ["a.org`) || Host(`b.org"]),
      "services.elm-lang.org.hostnames.0",
      /DNS name/,
    ],
    [
      "bad domain hostname",
      (d) => (d.targets.local.domains = { "elm-lang.org": ["bad host"] }),
      "targets.local.domains.elm-lang.org.0",
      /DNS name/,
    ],
    [
      "unknown service in target domains",
      (d) => (d.targets.local.domains = { "wiki.elm-lang.org": ["wiki.elm-lang.org"] }),
      "targets.local.domains.wiki.elm-lang.org",
      /unknown service; known services: elm-lang.org/,
    ],
    [
      "missing required field",
      (d) => delete d.targets.local.region,
      "targets.local.region",
      /is required/,
    ],
    [
      "missing required nested field",
      (d) => delete d.targets.local.ssh.privateKey,
      "targets.local.ssh.privateKey",
      /is required/,
    ],
    [
      "bad registry",
      (d) => (d.targets.local.registry = "HTTP://registry"),
      "targets.local.registry",
      /must be a registry address/,
    ],
    [
      "the removed registry 'local' (ship over SSH)",
      (d) => (d.targets.local.registry = "local"),
      "targets.local.registry",
      /'local' \(images shipped over SSH\) is gone/,
    ],
    [
      "registry with a shell metacharacter",
      (d) => (d.targets.local.registry = "reg.io/$(id)"),
      "targets.local.registry",
      /registry address/,
    ],
    [
      "unknown provider",
      (d) => (d.targets.local.provider = "aws"),
      "targets.local.provider",
      /digitalocean/,
    ],
    [
      "bad target name",
      (d) => (d.targets["Prod Env"] = d.targets.local),
      "targets.Prod Env",
      /invalid name: must be lower-case/,
    ],
    [
      "bad service name",
      (d) => (d.services["Elm Lang"] = d.services["elm-lang.org"]),
      "services.Elm Lang",
      /lower-case/,
    ],
    [
      "unknown default target",
      (d) => (d.defaultTarget = "staging"),
      "defaultTarget",
      /unknown target; known targets: local/,
    ],
    [
      "hostname listed twice",
      (d) => (d.services["elm-lang.org"].hostnames = ["elm-lang.org", "elm-lang.org"]),
      "services.elm-lang.org.hostnames",
      /listed twice/,
    ],
    [
      "relative mount path",
      (d) => (d.services["elm-lang.org"].data = { volume: "data", mountPath: "data" }),
      "services.elm-lang.org.data.mountPath",
      /absolute path/,
    ],
    [
      "health path without slash",
      (d) => (d.services["elm-lang.org"].healthPath = "health"),
      "services.elm-lang.org.healthPath",
      /like \/health/,
    ],
    ["no services", (d) => (d.services = {}), "services", /at least one service/],
    [
      "an ssh.port on the local target (its hosts listen on 22, published at ports.ssh)",
      (d) => (d.targets.local.ssh.port = 2222),
      "targets.local.ssh.port",
      /the local target's hosts listen on 22 .*leave ssh\.port out/,
    ],
    [
      "dns on the local target (its own test DNS holds every record)",
      (d) => (d.targets.local.dns = { zone: "elm-lang.org" }),
      "targets.local.dns",
      /the local target's own test DNS holds every hostname's record: leave dns out/,
    ],
    [
      "a hostname outside the DigitalOcean zone OpenTofu keeps the records of",
      (d) =>
        withDigitalOcean(d, {
          dns: { zone: "elm-lang.org" },
          domains: { "elm-lang.org": ["elm-lang.org", "elm.example.com"] },
        }),
      "targets.production.dns.zone",
      /^elm\.example\.com \(elm-lang\.org\) is not in the zone elm-lang\.org: OpenTofu makes records only inside it; .*leave dns\.zone out and create the records yourself/,
    ],
    [
      "a zone's resolver that is no address",
      (d) => withDigitalOcean(d, { dns: { zone: "elm-lang.org", resolvers: ["dns.google"] } }),
      "targets.production.dns.resolvers.0",
      /must be an IPv4 address/,
    ],
    [
      "an admin range that is the whole internet",
      (d) => (d.targets.local.adminCidrs = ["0.0.0.0/0"]),
      "targets.local.adminCidrs.0",
      /whole internet/,
    ],
    [
      "a network that is no range",
      (d) => (d.targets.local.network = { subnet: "10.213.0.0" }),
      "targets.local.network.subnet",
      /address range/,
    ],
    [
      "a healthy deadline past the progress deadline (Nomad refuses the job)",
      (d) =>
        (d.services["elm-lang.org"].update = { healthyDeadline: "90s", progressDeadline: "60s" }),
      "services.elm-lang.org.update.healthyDeadline",
      /healthyDeadline \(90s\) must be shorter than progressDeadline \(60s\)/,
    ],
    [
      "a min healthy time past the default healthy deadline",
      (d) => (d.services["elm-lang.org"].update = { minHealthyTime: "3m" }),
      "services.elm-lang.org.update.minHealthyTime",
      /minHealthyTime \(3m\) must be shorter than healthyDeadline \(2m\)/,
    ],
    [
      "a renewal before expiry as long as the certificates last (each due as soon as issued)",
      (d) => (d.targets.local.acme = { certificateLifetime: "10m", renewBefore: "600s" }),
      "targets.local.acme.renewBefore",
      /must be shorter than acme.certificateLifetime/,
    ],
    [
      "a network whose prefix is past /32",
      (d) => (d.targets.local.network = { subnet: "10.0.0.0/99" }),
      "targets.local.network.subnet",
      /address range/,
    ],
    [
      "a network with an octet past 255",
      (d) => (d.targets.local.network = { subnet: "10.300.0.0/24" }),
      "targets.local.network.subnet",
      /address range/,
    ],
    [
      "privileged local port",
      (d) => (d.targets.local.ports = { http: 80 }),
      "targets.local.ports.http",
      /1024/,
    ],
    [
      "a store's access key in cluster.yaml (only from the environment)",
      (d) =>
        (d.targets.local.store = {
          endpoint: "https://fra1.digitaloceanspaces.com",
          bucket: "elm-state",
          region: "fra1",
          secretAccessKey: "x",
        }),
      "targets.local.store.secretAccessKey",
      /unknown field/,
    ],
    [
      "a store's endpoint with a path",
      (d) =>
        (d.targets.local.store = {
          endpoint: "https://fra1.digitaloceanspaces.com/elm-state",
          bucket: "elm-state",
          region: "fra1",
        }),
      "targets.local.store.endpoint",
      /without a path/,
    ],
    [
      "a store beside remoteState (the store keeps the state)",
      (d) => {
        withDigitalOcean(d, {
          remoteState: { bucket: "elm-state", region: "fra1" },
          store: {
            endpoint: "https://fra1.digitaloceanspaces.com",
            bucket: "elm-state",
            region: "fra1",
          },
        });
      },
      "targets.production.remoteState",
      /leave remoteState out/,
    ],
    [
      "a store's prefix that is not folders",
      (d) =>
        (d.targets.local.store = {
          endpoint: "http://127.0.0.1:7070",
          bucket: "elm-state",
          region: "us-east-1",
          prefix: "../x",
        }),
      "targets.local.store.prefix",
      /folder names each ending with \//,
    ],
    [
      "a store keeping no off-site copies (keepBackups 0)",
      (d) =>
        (d.targets.local.store = {
          endpoint: "http://127.0.0.1:7070",
          bucket: "elm-state",
          region: "us-east-1",
          keepBackups: 0,
        }),
      "targets.local.store.keepBackups",
      /too small|>=1/,
    ],
    [
      "a store's keepBackups that is not a whole number",
      (d) =>
        (d.targets.local.store = {
          endpoint: "http://127.0.0.1:7070",
          bucket: "elm-state",
          region: "us-east-1",
          keepBackups: 2.5,
        }),
      "targets.local.store.keepBackups",
      /expected int/,
    ],
    [
      "an operator's recipient that is not an age X25519 recipient (an SSH key)",
      (d) => (d.targets.local.operators = [{ name: "ada", ageRecipient: "ssh-ed25519 AAAAC3Nza" }]),
      "targets.local.operators.0.ageRecipient",
      /age X25519 recipient/,
    ],
    [
      "an operator listed twice",
      (d) =>
        (d.targets.local.operators = [
          { name: "ada", ageRecipient: adaRecipient },
          { name: "ada", ageRecipient: bobRecipient },
        ]),
      "targets.local.operators.1.name",
      /listed twice/,
    ],
    [
      "an operator's SSH key that is a private key, named by the operator",
      (d) =>
        (d.targets.local.operators = [
          {
            name: "ada",
            ageRecipient: adaRecipient,
            sshKey: "-----BEGIN OPENSSH PRIVATE KEY-----",
          },
        ]),
      "targets.local.operators.0.sshKey",
      /^\(operator ada\) is a private key/,
    ],
    [
      "an operator's SSH key that is no public key line",
      (d) =>
        (d.targets.local.operators = [
          { name: "ada", ageRecipient: adaRecipient },
          { name: "bob", ageRecipient: bobRecipient, sshKey: bobRecipient },
        ]),
      "targets.local.operators.1.sshKey",
      /^\(operator bob\) must be one OpenSSH public key line/,
    ],
    [
      "an operator's adminCidr on the local target",
      (d) =>
        (d.targets.local.operators = [
          { name: "ada", ageRecipient: adaRecipient, adminCidr: "203.0.113.7/32" },
        ]),
      "targets.local.operators.0.adminCidr",
      /^\(operator ada\) is for DigitalOcean's cloud firewall/,
    ],
    [
      "an operator's adminCidr that is the whole internet",
      (d) =>
        (d.targets.local.operators = [
          { name: "ada", ageRecipient: adaRecipient, adminCidr: ["0.0.0.0/0"] },
        ]),
      "targets.local.operators.0.adminCidr.0",
      /whole internet/,
    ],
  ])("%s", (_what, breakIt, path, message) => {
    const doc = validDoc();
    breakIt(doc);
    const error = configErrorOf(() => parseCluster(doc, "cluster.yaml"));
    expect(error.exitCode).toBe(ExitCode.Usage);
    const problem = error.problems.find((p) => p.path === path);
    expect(problem, `no problem at ${path} in:\n${error.message}`).toBeDefined();
    expect(problem!.message).toMatch(message);
    expect(error.message).toContain(`cluster.yaml: ${path}: `);
  });

  it("a store with its endpoint, bucket, region, prefix and keepBackups parses", () => {
    const doc = validDoc();
    const store = {
      endpoint: "https://fra1.digitaloceanspaces.com",
      bucket: "elm-state",
      region: "fra1",
      prefix: "elm-infra/production/",
      keepBackups: 14,
    };
    doc.targets.local.store = store;
    expect(parseCluster(doc, "cluster.yaml").targets.local!.store).toEqual(store);
  });

  it("operators with their age recipients parse", () => {
    const doc = validDoc();
    const operators = [
      { name: "ada", ageRecipient: adaRecipient },
      { name: "ci", ageRecipient: bobRecipient },
    ];
    doc.targets.local.operators = operators;
    expect(parseCluster(doc, "cluster.yaml").targets.local!.operators).toEqual(operators);
  });

  it("operators with their SSH keys parse, and a private key never reaches the message", () => {
    const doc = validDoc();
    const sshKey =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONCFPtrQHgZ3PFWuSLJRFzMMI14pJNUZOHrjqvungpV ada@laptop";
    const operators = [{ name: "ada", ageRecipient: adaRecipient, sshKey }];
    doc.targets.local.operators = operators;
    expect(parseCluster(doc, "cluster.yaml").targets.local!.operators).toEqual(operators);
    const secret =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----";
    doc.targets.local.operators = [{ name: "ada", ageRecipient: adaRecipient, sshKey: secret }];
    const error = configErrorOf(() => parseCluster(doc, "cluster.yaml"));
    expect(error.message).not.toContain("b3BlbnNzaC1rZXktdjEAAAAABG5vbmU");
  });

  it("the valid document itself parses", () => {
    expect(parseCluster(validDoc(), "cluster.yaml").targets.local!.ports).toEqual({
      http: 8080,
      https: 8443,
      ssh: 2200,
    });
  });

  it("a DigitalOcean zone that holds every hostname (apex and below) parses", () => {
    const doc = validDoc();
    withDigitalOcean(doc, { dns: { zone: "elm-lang.org" } });
    expect(parseCluster(doc, "cluster.yaml").targets.production!.dns).toEqual({
      zone: "elm-lang.org",
    });
  });

  it("an empty document says what is missing", () => {
    const error = configErrorOf(() => parseCluster(undefined, "cluster.yaml"));
    expect(error.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(["targets", "services"]),
    );
  });
});

describe("several problems", () => {
  it("are all reported in one error, schema and cross-field alike", async () => {
    const file = join(fixtures, "several-problems.yaml");
    const error = (await rejectionOf(readClusterFile(file))) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.problems.map((p) => p.path).sort()).toEqual(
      [
        "services.elm-lang.org.count",
        "services.elm-lang.org.hostnames.0",
        "targets.local.colour",
        "targets.local.domains.wiki.elm-lang.org",
        "targets.local.managers",
        "targets.local.registry",
        "targets.local.workers",
      ].sort(),
    );
    const lines = error.message.split("\n");
    expect(lines[0]).toBe("invalid configuration:");
    expect(lines).toHaveLength(1 + error.problems.length);
    for (const problem of error.problems)
      expect(error.message).toContain(`  ${formatProblem(problem)}`);
  });
});

describe("pickTarget", () => {
  const cluster = parseCluster(
    load(`
targets:
  local: ${JSON.stringify(validDoc().targets.local)}
  production: ${JSON.stringify({ ...validDoc().targets.local, provider: "digitalocean", managers: 3 })}
services: ${JSON.stringify(validDoc().services)}
`),
    "cluster.yaml",
  );

  it("an unknown target is a usage error listing the known ones", () => {
    expect(() => pickTarget(cluster, "cluster.yaml", "nope")).toThrow(UsageError);
    try {
      pickTarget(cluster, "cluster.yaml", "nope");
    } catch (error) {
      expect((error as UsageError).message).toContain('unknown target "nope"');
      expect((error as UsageError).hint).toBe("known targets: local, production");
    }
  });

  it("several targets and none chosen asks for --target", () => {
    expect(() => pickTarget(cluster, "cluster.yaml", undefined)).toThrow(/none was chosen/);
  });

  it("the only target is chosen when there is one", async () => {
    const single = await readClusterFile(join(fixtures, "single-target.yaml"));
    expect(pickTarget(single, "single-target.yaml", undefined)[0]).toBe("dev");
  });

  it("hostnames come from the target's domains, else the service", () => {
    const doc = validDoc();
    doc.targets.local.domains = { "elm-lang.org": ["elm.localhost"] };
    const parsed = parseCluster(doc, "cluster.yaml");
    expect(
      hostnamesOf({ target: parsed.targets.local!, services: parsed.services }, "elm-lang.org"),
    ).toEqual(["elm.localhost"]);
    expect(
      hostnamesOf({ target: cluster.targets.local!, services: cluster.services }, "elm-lang.org"),
    ).toEqual(["elm-lang.org", "www.elm-lang.org"]);
  });
});

describe("secrets", () => {
  let root: string;
  const secretsFile = () => join(root, "secrets", "local.yaml");
  const writeSecretsFile = async (text: string, mode: number) => {
    await mkdir(join(root, "secrets"), { recursive: true });
    await writeFile(secretsFile(), text);
    await chmod(secretsFile(), mode);
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "elm-infra-config-"));
    await copyFile(repoCluster, join(root, "cluster.yaml"));
  });
  afterEach(async () => {
    forgetSecrets();
    await rm(root, { recursive: true, force: true });
  });

  it.each([0o644, 0o640, 0o604, 0o660])(
    "a file with mode %d (decimal) is refused with the chmod hint",
    async (mode) => {
      await writeSecretsFile(`nomadToken: ${uuid}\n`, mode);
      const error = (await rejectionOf(readSecrets(root, "local", {}))) as ConfigError;
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.exitCode).toBe(ExitCode.Usage);
      expect(error.message).toContain(`${secretsFile()}: mode is ${mode.toString(8)}`);
      expect(error.hint).toMatch(/^run: chmod 600 .*secrets\/local\.yaml$/);
      expect(error.message).not.toContain(uuid);
    },
  );

  it("a 0600 file is parsed and its values registered for redaction", async () => {
    await writeSecretsFile(`nomadToken: ${uuid}\ndigitaloceanToken: dop_v1_abcdef123456\n`, 0o600);
    const secrets = await readSecrets(root, "local", {});
    expect(secrets).toEqual({ nomadToken: uuid, digitaloceanToken: "dop_v1_abcdef123456" });
    expect(redact(`token ${uuid} and dop_v1_abcdef123456`)).toBe("token [redacted] and [redacted]");
  });

  it("accepts tokens as Nomad and Consul make them (random hex, no RFC 4122 version bits)", async () => {
    // A secret ID a real Nomad 1.10 returned from POST /v1/acl/token.
    const nomadMade = "5c60e7bc-dced-0dc2-6abd-fb6d744ee5de";
    const secrets = await readSecrets(root, "local", {
      NOMAD_TOKEN: nomadMade,
      CONSUL_HTTP_TOKEN: nomadMade.toUpperCase(),
    });
    expect(secrets).toEqual({ nomadToken: nomadMade, consulToken: nomadMade.toUpperCase() });
  });

  it("no file and no environment gives no secrets", async () => {
    expect(await readSecrets(root, "local", {})).toEqual({});
  });

  it("the environment overrides the file, and the first variable set wins", async () => {
    await writeSecretsFile(`nomadToken: ${uuid}\nconsulToken: ${uuid}\n`, 0o600);
    const secrets = await readSecrets(root, "local", {
      ELM_INFRA_NOMAD_TOKEN: otherUuid,
      NOMAD_TOKEN: uuid,
      CONSUL_HTTP_TOKEN: otherUuid,
      ELM_INFRA_REGISTRY_PASSWORD: "",
    });
    expect(secrets).toEqual({ nomadToken: otherUuid, consulToken: otherUuid });
    expect(redact(otherUuid)).toBe("[redacted]");
  });

  it.each<[string, string, string]>([
    ["nomadToken", "not-a-uuid-but-a-secret-value", "Nomad ACL secret ID"],
    ["consulToken", "s3cr3t-consul-value", "Consul ACL secret ID"],
    ["consulGossipKey", "secret-gossip-key-value", "32 bytes in base64"],
  ])("a malformed %s names the field, never the value", async (field, value, message) => {
    await writeSecretsFile(`${field}: ${value}\n`, 0o600);
    const error = (await rejectionOf(readSecrets(root, "local", {}))) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain(`${secretsFile()}: ${field}: must be`);
    expect(error.message).toContain(message);
    expect(`${error.message}\n${error.hint}`).not.toContain(value);
  });

  it("a malformed token from the environment names the field, never the value", async () => {
    const value = "leaky-token-value-123";
    const error = (await rejectionOf(
      readSecrets(root, "local", { NOMAD_TOKEN: value }),
    )) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("environment: NOMAD_TOKEN: must be a Nomad ACL secret ID");
    expect(error.hint).toBe("fix or unset the variable above and run again");
    expect(`${error.message}\n${error.hint}`).not.toContain(value);
  });

  it("a wrongly typed or unknown secret names the field, never the value", () => {
    const error = configErrorOf(() =>
      parseSecrets({ nomadToken: 123456789, apiKey: "hidden-value-42" }, "s.yaml"),
    );
    expect(error.problems.map((p) => p.path).sort()).toEqual(["apiKey", "nomadToken"]);
    expect(error.message).not.toContain("123456789");
    expect(error.message).not.toContain("hidden-value-42");
  });

  it("writeSecrets creates secrets/<target>.yaml with mode 0600 that reads back", async () => {
    const file = await writeSecrets(root, "local", {
      nomadToken: uuid,
      registryPassword: 'p"a:s s#word',
    });
    expect(file).toBe(secretsFile());
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, "secrets"))).mode & 0o077).toBe(0);
    expect(await readSecrets(root, "local", {})).toEqual({
      nomadToken: uuid,
      registryPassword: 'p"a:s s#word',
    });
  });

  it("writeSecrets tightens an existing file that was too open", async () => {
    await writeSecretsFile("nomadToken: x\n", 0o644);
    await writeSecrets(root, "local", { nomadToken: uuid });
    expect((await stat(secretsFile())).mode & 0o777).toBe(0o600);
    expect(await readFile(secretsFile(), "utf8")).toBe(`nomadToken: "${uuid}"\n`);
  });

  it("loadConfig reads cluster.yaml, the target from the environment, and its secrets", async () => {
    await writeSecretsFile(`nomadToken: ${uuid}\n`, 0o600);
    const config = await loadConfig({
      file: join(root, "cluster.yaml"),
      env: { ELM_INFRA_TARGET: "local" },
    });
    expect(config).toMatchObject({ root, targetName: "local", secrets: { nomadToken: uuid } });
    const production = await loadConfig({
      file: join(root, "cluster.yaml"),
      env: { ELM_INFRA_TARGET: "production" },
    });
    expect(production.targetName).toBe("production");
    const flag = await loadConfig({
      file: join(root, "cluster.yaml"),
      target: "production",
      env: { ELM_INFRA_TARGET: "local" },
    });
    expect(flag.targetName).toBe("production");
  });

  it("ELM_INFRA_SSH_KEY_FILE is this operator's login key; the target's key and its public half stay cluster.yaml's", async () => {
    const file = join(root, "cluster.yaml");
    const plain = await loadConfig({ file, target: "local", env: {} });
    expect(plain.sshKeyFile).toBeUndefined();
    const own = targetPaths(plain);
    expect(own.privateKey).toBe(own.targetKey);
    const operator = await loadConfig({
      file,
      target: "local",
      env: { ELM_INFRA_SSH_KEY_FILE: "keys/bob_ed25519" },
    });
    expect(operator.sshKeyFile).toBe(resolve("keys/bob_ed25519"));
    const paths = targetPaths(operator);
    expect(paths.privateKey).toBe(resolve("keys/bob_ed25519"));
    expect(paths.targetKey).toBe(own.targetKey);
    expect(paths.publicKey).toBe(`${own.targetKey}.pub`);
    const home = await loadConfig({
      file,
      target: "local",
      env: { ELM_INFRA_SSH_KEY_FILE: "~/.ssh/id_ed25519" },
    });
    expect(home.sshKeyFile).toBe(join(homedir(), ".ssh/id_ed25519"));
    // an exported-but-empty variable means "not set"
    const empty = await loadConfig({ file, target: "local", env: { ELM_INFRA_SSH_KEY_FILE: "" } });
    expect(empty.sshKeyFile).toBeUndefined();
  });
});
