/**
 * `bring-up --dry-run` only plans: against the real OpenTofu and the local module, on a target
 * never brought up, it shows the plan and leaves the project folder as it was (no key pair, no
 * `.elm-infra/<target>/`, no OpenTofu working folder), and says once that a target without a store
 * is one operator's.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { makeLocalTarget, minimalServices, type LocalTarget } from "../harness/local-target.js";
import { ensureBuilt } from "../harness/cli.js";
import { folderTree, spawnCli } from "../support/cli.js";

let local: LocalTarget;
const target = `dry-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  await ensureBuilt();
  local = await makeLocalTarget(target, {
    managers: 1,
    workers: 2,
    slot: randomBytes(1)[0]! % 40,
    subnetBase: 190,
    sshBase: 40_000,
    services: minimalServices,
  });
});

afterAll(async () => {
  if (local) await rm(local.work, { recursive: true, force: true });
});

it("bring-up --dry-run on a new target prints the plan and writes nothing", async () => {
  const before = await folderTree(local.work);
  const r = await spawnCli(
    ["bring-up", "--dry-run", "--json", "--config", local.config, "--target", target],
    { cwd: local.work, env: { CI: "true" }, timeoutMs: 300_000 },
  );
  expect(r.exitCode, r.stderr).toBe(0);
  const events = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map(
      (l) =>
        JSON.parse(l) as {
          type: string;
          level?: string;
          message?: string;
          data?: { outcome?: string; plan?: unknown };
        },
    );
  const result = events.find((e) => e.type === "result");
  // a target without a store says once that its state is this machine's, for one operator
  expect(events.filter((e) => e.level === "warn").map((e) => e.message)).toEqual([
    `target ${target} has no store: its secrets, state and lock stay on this machine, for one operator (add targets.${target}.store and operators to share them)`,
  ]);
  expect(result?.data?.outcome).toBe("planned");
  expect(JSON.stringify(result?.data?.plan)).toMatch(new RegExp(`${target}-worker-2`));
  expect(await folderTree(local.work)).toEqual(before);
});
