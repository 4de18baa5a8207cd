import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { setTargetCounts, writeTargetCounts } from "../../../src/config/edit.js";
import { ConfigError } from "../../../src/errors.js";
import { parseCluster, parseYaml } from "../../../src/config/parse.js";

const text = `# The cluster. Comments stay where they are.
defaultTarget: local

targets:
  production:
    provider: digitalocean   # the real one
    region: fra1
    sizes: { manager: s-1vcpu-2gb, worker: s-2vcpu-4gb }
    managers: 3   # odd, for quorum
    workers: 2
  local: { provider: local, region: local, managers: 1, workers: 2, sizes: { manager: local, worker: local } }
  staging:
    managers: "1"
    workers:   5 # spaced
`;

describe("setTargetCounts", () => {
  it("changes the target's counts and not one other byte", () => {
    const next = setTargetCounts(text, "cluster.yaml", "production", { managers: 5, workers: 3 });
    expect(next).toBe(
      text
        .replace("managers: 3   # odd", "managers: 5   # odd")
        .replace("workers: 2\n  local", "workers: 3\n  local"),
    );
  });

  it("edits inside a flow map, leaving its other keys and the other targets alone", () => {
    const next = setTargetCounts(text, "cluster.yaml", "local", { workers: 3 });
    expect(next).toBe(text.replace("managers: 1, workers: 2,", "managers: 1, workers: 3,"));
  });

  it("only the count given changes; a quoted value is replaced whole, spacing kept", () => {
    const next = setTargetCounts(text, "cluster.yaml", "staging", { managers: 3, workers: 4 });
    expect(next).toBe(
      text.replace('managers: "1"', "managers: 3").replace("workers:   5 #", "workers:   4 #"),
    );
  });

  it("a real cluster.yaml still parses to the new counts", async () => {
    const repoFile = await readFile(join(import.meta.dirname, "../../../cluster.yaml"), "utf8");
    const target = Object.keys(
      (parseYaml(repoFile, "cluster.yaml") as { targets: Record<string, unknown> }).targets,
    )[0]!;
    const next = setTargetCounts(repoFile, "cluster.yaml", target, { managers: 3, workers: 4 });
    const cluster = parseCluster(parseYaml(next, "cluster.yaml"), "cluster.yaml");
    expect(cluster.targets[target]).toMatchObject({ managers: 3, workers: 4 });
    expect(next.split("\n").length).toBe(repoFile.split("\n").length);
  });

  it("refuses a target without the field, naming its path", () => {
    expect(() => setTargetCounts(text, "cluster.yaml", "nope", { workers: 1 })).toThrow(
      ConfigError,
    );
    expect(() => setTargetCounts(text, "cluster.yaml", "nope", { workers: 1 })).toThrow(
      /cluster.yaml: targets.nope.workers: is not a number to update/,
    );
  });
});

describe("writeTargetCounts", () => {
  it("rewrites the file with its mode kept", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-edit-"));
    const file = join(dir, "cluster.yaml");
    await writeFile(file, text, { mode: 0o640 });
    await writeTargetCounts(file, "local", { managers: 3 });
    expect(await readFile(file, "utf8")).toBe(
      text.replace("local, managers: 1,", "local, managers: 3,"),
    );
    expect((await stat(file)).mode & 0o777).toBe(0o640);
  });
});
