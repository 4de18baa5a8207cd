import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  importCycles,
  importsOf,
  layeringViolations,
  shapeViolations,
} from "../support/layering.js";

const path = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

describe("layering of src/ (the order is documented in test/support/layering.ts)", () => {
  it("has no upward import, static or dynamic, and talks to the world only from adapters", () => {
    expect(layeringViolations(path("../../src"))).toEqual([]);
  });

  it("reports every kind of break in a fixture tree", () => {
    expect(layeringViolations(path("../fixtures/layering/src"))).toEqual([
      "config/load.ts:2: imports undici, which only adapters may use",
      "nomad/client.ts:2: dynamic import tasks/steps.ts (tasks) from below (adapters)",
      "plan/hosts.ts:1: imports cluster/connect.ts: plan/ is pure and never reaches a cluster",
      "scripts/tool.ts: is in no layer (place its folder in the layer list)",
      "tasks/steps.ts:2: imports commands/deploy.ts (commands) from below (tasks)",
    ]);
  });

  it("has no circle of imports", () => {
    expect(importCycles(path("../../src"))).toEqual([]);
  });

  it("reports a circle of imports in a fixture tree, type-only too, and not a dynamic import back", () => {
    expect(importCycles(path("../fixtures/layering/src"))).toEqual([
      "commands/deploy.ts -> tasks/steps.ts -> commands/deploy.ts",
      "plan/jobs.ts -> plan/vars.ts -> plan/jobs.ts",
    ]);
  });

  it("reads static, type-only, re-exported and dynamic imports", () => {
    expect(importsOf(path("../fixtures/layering/src/tasks/steps.ts"))).toEqual([
      { specifier: "../commands/deploy.js", kind: "static", line: 2 },
    ]);
    expect(importsOf(path("../fixtures/layering/src/cli/main.ts"))).toEqual([
      { specifier: "../commands/deploy.js", kind: "dynamic", line: 2 },
    ]);
    expect(importsOf(path("../fixtures/layering/src/index.ts"))).toEqual([
      { specifier: "./commands/deploy.js", kind: "static", line: 2 },
    ]);
  });
});

describe("one helper per shape: waits and abort listeners in src/wait.ts, connections in cluster/connect.ts, locks through src/lock.ts", () => {
  it("src/ writes no wait loop, sleep or connect/close pair outside its helper", () => {
    expect(shapeViolations(path("../../src"))).toEqual([]);
  });

  it("reports each hand-written wait and connection in a fixture tree, and nothing the helpers do", () => {
    expect(shapeViolations(path("../fixtures/layering/src"))).toEqual([
      "tasks/waits.ts:9: a loop on the clock outside wait.ts (use waitFor)",
      "tasks/waits.ts:11: setTimeout outside wait.ts (use waitFor or sleep)",
      "tasks/waits.ts:13: a loop that sleeps outside wait.ts (use waitFor)",
      "tasks/waits.ts:14: connectToCluster outside cluster/connect.ts (use withCluster)",
      "tasks/waits.ts:15: closes a target's APIs by hand (use withCluster)",
      "tasks/waits.ts:16: setTimeout outside wait.ts (use waitFor or sleep)",
      "tasks/waits.ts:17: acquireLock outside consul/lock.ts (use withLock)",
      "tasks/waits.ts:18: an abort listener outside wait.ts (use abortable, sleep or waitFor)",
    ]);
  });
});
