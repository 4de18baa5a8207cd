import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCluster, parseYaml } from "../../../src/config/parse.js";
import { ConfigError } from "../../../src/errors.js";
import { serviceJobVars } from "../../../src/plan/job-vars.js";

const root = resolve(import.meta.dirname, "../../..");
const yaml = readFileSync(resolve(root, "cluster.yaml"), "utf8");

/** The repository's cluster.yaml with `line` added to elm-lang.org's service. */
function withServiceLine(line: string) {
  const text = yaml.replace(/(\n {2}elm-lang\.org:\n)/, `$1    ${line}\n`);
  expect(text).not.toBe(yaml);
  return parseCluster(parseYaml(text, "cluster.yaml"), "cluster.yaml");
}

describe("a service's health check interval (services.<name>.checkInterval)", () => {
  it.each([
    ["not given: Consul checks every 5 s, as in production", undefined, "5s"],
    ["given: a test cluster's faster checks", "checkInterval: 1s", "1s"],
  ])("%s", (_, line, interval) => {
    const cluster = line
      ? withServiceLine(line)
      : parseCluster(parseYaml(yaml, "cluster.yaml"), "cluster.yaml");
    const vars = serviceJobVars(
      { target: cluster.targets.production!, services: cluster.services },
      { service: "elm-lang.org", version: "1.0.0" },
    );
    expect(vars.check).toEqual({ interval, timeout: "2s" });
  });

  it.each([
    ["not a duration", "often", /must be a duration like 10s/],
    ["shorter than Nomad allows", "0s", /must be at least 1s/],
  ])("is refused when %s, naming the field", (_, value, message) => {
    let error: unknown;
    try {
      withServiceLine(`checkInterval: ${value}`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/services\.elm-lang\.org\.checkInterval: /);
    expect((error as ConfigError).message).toMatch(message);
  });
});
