import { dump, load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { hostnamesOf, pickTarget, readClusterFile } from "../../../src/config/load.js";
import { lookUp } from "../../../src/config/lookup.js";
import {
  expandedNodeCount,
  fieldPath,
  parseCluster,
  parseYaml,
  yamlLimits,
} from "../../../src/config/parse.js";
import { parseServiceRef } from "../../../src/config/service-ref.js";
import { ConfigError, ExitCode, UsageError } from "../../../src/errors.js";
import { quote } from "../../../src/output/quote.js";
import { parseEvents } from "js-yaml";

/** Names that mean something to every JavaScript object. */
const objectNames = [
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "__defineGetter__",
  "prototype",
];

// the repository's own cluster.yaml: targets local, dev, production; two services
const cluster = await readClusterFile(
  fileURLToPath(new URL("../../../cluster.yaml", import.meta.url)),
);
const knownTargets = "known targets: local, dev, production";

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a refusal");
}

describe("a name a user types is found in the configuration or refused as unknown", () => {
  it.each(objectNames)("--target %s: unknown target, exit 2, the known ones listed", (name) => {
    const error = errorOf(() => pickTarget(cluster, "cluster.yaml", name)) as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.exitCode).toBe(ExitCode.Usage);
    expect(error.message).toBe(`unknown target ${JSON.stringify(name)} in cluster.yaml`);
    expect(error.hint).toBe(knownTargets);
  });

  it.each(objectNames)("service %s@1.0: unknown service, the known ones listed", (name) => {
    const error = errorOf(() => parseServiceRef(`${name}@1.0`, Object.keys(cluster.services)));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe(`unknown service ${JSON.stringify(name)}`);
    expect((error as UsageError).hint).toMatch(
      /^known services: elm-lang.org, package.elm-lang.org;/,
    );
  });

  it.each(objectNames)("%s has no hostnames and no map entry", (name) => {
    const config = { target: cluster.targets.local!, services: cluster.services };
    expect(hostnamesOf(config, name)).toEqual([]);
    expect(lookUp(cluster.services, name)).toBeUndefined();
    expect(lookUp(cluster.targets, name)).toBeUndefined();
  });

  it("a target or service really named constructor is found", () => {
    // through YAML, as a user's cluster.yaml would be read
    const doc = load(
      dump({
        targets: { constructor: { ...cluster.targets.local, domains: {} } },
        services: { constructor: cluster.services["elm-lang.org"] },
      }),
    );
    const named = parseCluster(doc, "cluster.yaml");
    expect(pickTarget(named, "cluster.yaml", "constructor")[1].provider).toBe("local");
    expect(parseServiceRef("constructor@1.0", Object.keys(named.services))).toEqual({
      service: "constructor",
      version: "1.0",
    });
    const [, target] = pickTarget(named, "cluster.yaml", "constructor");
    expect(hostnamesOf({ target, services: named.services }, "constructor")).toEqual(
      cluster.services["elm-lang.org"]!.hostnames,
    );
  });

  it.each([
    ["a target", "targets:\n  __proto__: {}\n", "targets.__proto__"],
    ["a service", "services:\n  __proto__: {}\n", "services.__proto__"],
    [
      "a domain",
      "targets:\n  local:\n    domains:\n      __proto__: [a.org]\n",
      "targets.local.domains.__proto__",
    ],
  ])("__proto__ as %s in cluster.yaml is reported, not dropped", (_what, yaml, path) => {
    const error = errorOf(() => parseCluster(parseYaml(yaml, "cluster.yaml"), "cluster.yaml"));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toContainEqual({
      file: "cluster.yaml",
      path,
      message: "is not a name elm-infra accepts",
    });
  });
});

/** A few lines that expand to 9^depth nodes. */
function laughs(depth: number): string {
  const lines = ['a0: &a0 "lol"'];
  for (let i = 1; i <= depth; i++)
    lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(", ")}]`);
  return `${lines.join("\n")}\n`;
}

describe("YAML is read defensively", () => {
  it("a billion laughs is refused before it is expanded, exit 2, with what to do", () => {
    const started = Date.now();
    const error = errorOf(() => parseYaml(laughs(9), "cluster.yaml")) as ConfigError;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.exitCode).toBe(ExitCode.Usage);
    expect(error.message).toBe(
      `invalid configuration:\n  cluster.yaml: its aliases (*name) expand to more than ${yamlLimits.maxNodes} nodes; a YAML file built to expand exponentially is refused before it is read`,
    );
    expect(error.hint).toBe("write the repeated parts out, or use fewer nested aliases");
  });

  it.each([
    ["no alias", "a: [1, 2]\nb: {c: d}\n", 9],
    ["an alias counts as what it names", "a: &x [1, 2]\nb: *x\n", 9],
    ["a scalar alias", "a: &x 1\nb: *x\n", 5],
    ["nested aliases multiply", laughs(2), 1 + 2 + (1 + 10) + (1 + 91)],
  ])("counts expanded nodes: %s", (_what, yaml, nodes) => {
    expect(expandedNodeCount(yaml, parseEvents(yaml, {}), 1_000_000)).toBe(nodes);
  });

  it("a few ordinary anchors are read as before", () => {
    expect(parseYaml("base: &b {user: root}\none: *b\ntwo: *b\n", "f.yaml")).toEqual({
      base: { user: "root" },
      one: { user: "root" },
      two: { user: "root" },
    });
  });

  it("a file larger than the limit is refused without being parsed", () => {
    const error = errorOf(() => parseYaml(`# ${"x".repeat(yamlLimits.maxBytes)}\n`, "big.yaml"));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("big.yaml: is larger than 1 MB");
  });
});

describe("user values in messages are quoted, cut and escaped by one helper", () => {
  it.each([
    ["plain", "elm-lang.org", '"elm-lang.org"'],
    ["quote and backslash", 'a"b\\c', '"a\\"b\\\\c"'],
    ["newline, tab, return", "a\nb\tc\rd", '"a\\nb\\tc\\rd"'],
    ["escape sequence", "\u001b[31mred", '"\\u001b[31mred"'],
    ["NUL and DEL", "a\u0000b\u007f", '"a\\u0000b\\u007f"'],
    ["C1 control", "a\u009bb", '"a\\u009bb"'],
    ["bidi override", "abc\u202edef", '"abc\\u202edef"'],
    ["zero-width space", "a\u200bb", '"a\\u200bb"'],
    ["line separator", "a\u2028b", '"a\\u2028b"'],
    ["long", "a".repeat(100), `"${"a".repeat(60)}…"`],
    ["long with emoji, cut by code point", "😀".repeat(70), `"${"😀".repeat(60)}…"`],
    ["not a string", 42, '"42"'],
  ])("%s", (_what, value, quoted) => {
    expect(quote(value)).toBe(quoted);
  });

  it("a field path quotes a name that is not plain", () => {
    expect(fieldPath(["services", "elm-lang.org", "hostnames", 0])).toBe(
      "services.elm-lang.org.hostnames.0",
    );
    expect(fieldPath(["targets", "bad\nname", "x".repeat(80)])).toBe(
      `targets."bad\\nname"."${"x".repeat(60)}…"`,
    );
  });

  it("a cluster.yaml key with control characters is quoted escaped in the problem", () => {
    const error = errorOf(() =>
      parseCluster(parseYaml('services:\n  "evil\\e[2J\\nname": {}\n', "c.yaml"), "c.yaml"),
    ) as ConfigError;
    expect(error.message).not.toContain("\u001b");
    expect(error.problems.map((p) => p.path)).toContain('services."evil\\u001b[2J\\nname"');
  });
});
