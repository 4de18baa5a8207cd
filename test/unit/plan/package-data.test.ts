import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { cronProblem } from "../../../src/config/cron.js";
import { parseCluster, parseYaml } from "../../../src/config/parse.js";
import { readInventory, writeInventory, type Inventory } from "../../../src/cluster/inventory.js";
import { renderTemplateFile } from "../../../src/nomad/render.js";
import type { NomadJob } from "../../../src/nomad/types.js";
import { renderServiceJob } from "../../../src/plan/jobs.js";
import {
  backupFileName,
  backupJobVars,
  backupTime,
  choosePackageDataHost,
  chooseRestoreHost,
  lastSuccessfulRun,
  newestBackup,
  dataGroups,
  hasStandby,
  pinnedNode,
  repinJob,
  scheduleSeconds,
  withDataGroupsStopped,
  withStandby,
} from "../../../src/plan/package-data.js";
import { standbyService } from "../../../src/plan/job-vars.js";
import { replaceVolumeScript } from "../../../src/tasks/package-data.js";

const root = resolve(import.meta.dirname, "../../..");
const cluster = parseCluster(
  parseYaml(readFileSync(join(root, "cluster.yaml"), "utf8"), "cluster.yaml"),
  "cluster.yaml",
);
const local = { root, target: cluster.targets.local!, services: cluster.services };
const site = "package.elm-lang.org";

describe("the package data's holder", () => {
  it.each([
    [{ recorded: "w-2", configured: "w-1", workers: ["w-1", "w-2"] }, "w-2"],
    [{ recorded: "w-3", configured: "w-1", workers: ["w-1", "w-2"] }, "w-1"],
    [{ recorded: "w-3", workers: ["w-2", "w-4"] }, "w-2"],
    [{ workers: [] }, undefined],
  ])("%j holds on %s", (input, expected) => {
    expect(choosePackageDataHost(input)).toBe(expected);
  });

  it.each([
    [{ holder: "w-1", readyWorkers: ["w-1", "w-2"] }, "w-1"],
    [{ holder: "w-1", readyWorkers: ["w-2"] }, "w-2"],
    [{ holder: "w-1", to: "w-2", readyWorkers: ["w-1", "w-2"] }, "w-2"],
  ])("a restore with %j goes to %s", (input, expected) => {
    expect(chooseRestoreHost(input)).toBe(expected);
  });

  it("refuses a restore onto a worker that is not ready, or with none ready", () => {
    expect(() => chooseRestoreHost({ to: "w-3", readyWorkers: ["w-1"] })).toThrow(
      /not a ready worker/,
    );
    expect(() => chooseRestoreHost({ holder: "w-1", readyWorkers: [] })).toThrow(/no worker/);
  });

  it("is recorded in the inventory and read back", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-inventory-"));
    try {
      const config = { root: dir, targetName: "t", target: cluster.targets.local!, file: "" };
      const inventory: Inventory = { target: "t", hosts: [], packageDataHost: "t-worker-2" };
      await writeInventory(config, inventory);
      expect((await readInventory(config))?.packageDataHost).toBe("t-worker-2");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the package job follows the data", () => {
  it("renders pinned to the holder, the backup export beside it on the same worker", async () => {
    const hcl = await renderServiceJob(
      local,
      { service: site, version: "2.0.1" },
      {
        dataNode: "local-worker-2",
      },
    );
    const pins = hcl.match(/value\s+= "local-worker-2"/g) ?? [];
    expect(pins).toHaveLength(2);
    expect(hcl).toContain('group "backup-export"');
    expect(hcl).toContain('provider = "nomad"');
    expect(hcl).toContain('image      = "10.213.0.5:5000/tiny:busybox"');
    expect(hcl).toMatch(/read_only\s+= true/);
  });

  it("renders unpinned when no holder is known", async () => {
    const hcl = await renderServiceJob(local, { service: site, version: "2.0.1" });
    expect(hcl).not.toContain("node.unique.name");
  });

  it("is re-pinned (a move, a restore, a rollback): the data groups only, other constraints kept", () => {
    const job = {
      ID: site,
      TaskGroups: [
        {
          Name: "web",
          Count: 1,
          Volumes: { "package-data": {} },
          Constraints: [
            { LTarget: "${node.unique.name}", RTarget: "w-1", Operand: "=" },
            { LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "=" },
          ],
        },
        { Name: "other", Count: 1 },
      ],
    } as unknown as NomadJob;
    const moved = repinJob(job, "w-2");
    expect(pinnedNode(job)).toBe("w-1");
    expect(pinnedNode(moved)).toBe("w-2");
    const web = moved.TaskGroups![0] as unknown as { Constraints: unknown[] };
    expect(web.Constraints).toHaveLength(2);
    expect(moved.TaskGroups![1]).toBe(job.TaskGroups![1]);
  });
});

describe("the read-only standby of a planned move", () => {
  it("renders with none running, serving a copy taken from the export, on routers of its own", async () => {
    const hcl = await renderServiceJob(
      local,
      { service: site, version: "2.0.1" },
      { dataNode: "local-worker-2" },
    );
    const standby = hcl.slice(hcl.indexOf('group "standby"'));
    expect(standby).toMatch(/^group "standby" \{\n\s+count = 0\n/);
    expect(standby).toContain('name     = "package-elm-lang-org-standby"');
    expect(standby).toContain('nomadService "package-elm-lang-org-backup-export"');
    expect(standby).toMatch(/hook = "prestart"/);
    expect(standby).toContain('DATA_DIR    = "/alloc/data/copy"');
    expect(standby).toContain('image      = "10.213.0.5:5000/package.elm-lang.org:2.0.1"');
    // No volume, no pin: it runs where a move puts it.
    expect(standby).not.toContain("volume");
    expect(standby).not.toContain("node.unique.name");
  });

  it("routes reads only, at the lowest priority, under a service of its own", () => {
    const { service, tags } = standbyService(
      site,
      ["package.elm-lang.org", "www.package.elm-lang.org"],
      { https: true },
    );
    expect(service).toBe("package-elm-lang-org-standby");
    expect(tags).toEqual(
      expect.arrayContaining([
        "traefik.http.routers.package-elm-lang-org-standby.rule=(Host(`package.elm-lang.org`)) && (Method(`GET`) || Method(`HEAD`))",
        "traefik.http.routers.package-elm-lang-org-standby.priority=1",
        "traefik.http.routers.package-elm-lang-org-standby.tls=true",
        "traefik.http.routers.package-elm-lang-org-standby.service=package-elm-lang-org-standby",
        "traefik.http.routers.package-elm-lang-org-standby-www.middlewares=elm-infra-to-apex@file",
        "traefik.http.routers.package-elm-lang-org-standby-www.priority=1",
      ]),
    );
    expect(tags.filter((t) => t.includes(".rule=") && !t.includes("Method(`GET`)"))).toEqual([]);
  });

  const job = {
    ID: site,
    TaskGroups: [
      {
        Name: "web",
        Count: 2,
        Volumes: { "package-data": {} },
        Constraints: [{ LTarget: "${node.unique.name}", RTarget: "w-1", Operand: "=" }],
      },
      { Name: "backup-export", Count: 1, Volumes: { "package-data": {} } },
      { Name: "standby", Count: 0 },
    ],
  } as unknown as NomadJob;

  it("runs one instance on the worker the data goes to, and none again after", () => {
    expect(hasStandby(job)).toBe(true);
    expect(hasStandby({ ...job, TaskGroups: job.TaskGroups!.slice(0, 2) })).toBe(false);
    const running = withStandby(job, "w-2");
    const standby = running.TaskGroups![2] as unknown as { Count: number; Constraints: unknown[] };
    expect(standby.Count).toBe(1);
    expect(standby.Constraints).toEqual([
      { LTarget: "${node.unique.name}", RTarget: "w-2", Operand: "=" },
    ]);
    // The site's own groups are untouched, and their pin is the job's pin.
    expect(running.TaskGroups!.slice(0, 2)).toEqual(job.TaskGroups!.slice(0, 2));
    expect(pinnedNode(running)).toBe("w-1");
    expect(pinnedNode(repinJob(running, "w-2"))).toBe("w-2");
    const stopped = withStandby(running, undefined).TaskGroups![2] as unknown as {
      Count: number;
      Constraints: unknown[];
    };
    expect(stopped).toMatchObject({ Count: 0, Constraints: [] });
  });

  it("stops the groups that mount the volume, and only those", () => {
    const stopped = withDataGroupsStopped(withStandby(job, "w-2"));
    expect(stopped.TaskGroups!.map((g) => [g.Name, g.Count])).toEqual([
      ["web", 0],
      ["backup-export", 0],
      ["standby", 1],
    ]);
    expect(dataGroups(job)).toEqual(["web", "backup-export"]);
  });
});

describe("backups", () => {
  it.each([
    ["@hourly", undefined],
    ["*/15 * * * *", undefined],
    ["0 3 * * 1-5", undefined],
    ["0 3 * *", /5/],
    ["61 * * * *", /minute/],
    ["* 24 * * *", /hour/],
    ["*/0 * * * *", /minute/],
    ["@sometimes", /fields/],
  ])("cron %s", (expression, problem) => {
    const found = cronProblem(expression);
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });

  it("refuses a bad schedule in cluster.yaml with its path", () => {
    expect(() =>
      backupJobVars({
        service: site,
        target: { provider: "local", registry: "none" },
        holder: "w",
        backup: { schedule: "x" },
      }),
    ).toThrow(/services.package.elm-lang.org.data.backup.schedule/);
  });

  it("names files by their time, and reads the recovery point back", () => {
    const at = new Date("2026-11-24T02:50:02.123Z");
    const name = backupFileName(site, at);
    expect(name).toBe("package.elm-lang.org-20261124T025002Z.tar.gz");
    expect(backupTime(site, `/x/${name}`)?.toISOString()).toBe("2026-11-24T02:50:02.000Z");
    expect(backupTime(site, "elm-lang.org-20261124T025002Z.tar.gz")).toBeUndefined();
    expect(backupTime(site, `.partial-${name}`)).toBeUndefined();
    expect(
      newestBackup(site, [
        "package.elm-lang.org-20261124T010000Z.tar.gz",
        "package.elm-lang.org-20261124T020000Z.tar.gz",
        ".partial-package.elm-lang.org-20261124T030000Z.tar.gz",
      ]),
    ).toBe("package.elm-lang.org-20261124T020000Z.tar.gz");
  });

  it("renders the periodic job off the holder, keeping the newest N", async () => {
    const vars = backupJobVars({
      service: site,
      target: { provider: "local", registry: "none" },
      holder: "local-worker-1",
      backup: { schedule: "*/30 * * * *", keep: 5 },
    });
    const hcl = await renderTemplateFile(join(root, "jobs/package-backup.nomad.hbs"), vars);
    expect(hcl).toContain(`job "${site}-backup"`);
    expect(hcl).toContain('crons            = ["*/30 * * * *"]');
    expect(hcl).toMatch(/operator\s+= "!="\s+value\s+= "local-worker-1"/);
    expect(hcl).toContain('{{ range nomadService "package-elm-lang-org-backup-export" }}');
    expect(hcl).toContain("tail -n +6");
    expect(hcl).toContain('source    = "package-backups"');
  });

  it("knows the last successful run and a schedule's period", () => {
    const ns = (iso: string) => Date.parse(iso) * 1e6;
    expect(
      lastSuccessfulRun([
        { id: "a", submitTime: ns("2026-11-24T01:00:00Z"), status: "dead", complete: 1, failed: 0 },
        { id: "b", submitTime: ns("2026-11-24T02:00:00Z"), status: "dead", complete: 0, failed: 1 },
        {
          id: "c",
          submitTime: ns("2026-11-24T03:00:00Z"),
          status: "running",
          complete: 0,
          failed: 0,
        },
      ])?.toISOString(),
    ).toBe("2026-11-24T01:00:00.000Z");
    expect(lastSuccessfulRun([])).toBeUndefined();
    expect(scheduleSeconds("@hourly")).toBe(3600);
    expect(scheduleSeconds("*/15 * * * *")).toBe(900);
    expect(scheduleSeconds("0 */6 * * *")).toBe(21600);
    expect(scheduleSeconds("0 3 * * *")).toBe(86400);
  });

  it("replaces the volume only after the archive was extracted whole, owned by the site's user", () => {
    const script = replaceVolumeScript("/srv/package-data", 10001);
    const lines = script.split("\n");
    const extract = lines.findIndex((l) => l.startsWith("tar -xzf -"));
    const removeOld = lines.findIndex((l) => l.includes("-exec rm -rf"));
    expect(lines[0]).toBe("set -e");
    expect(extract).toBeGreaterThan(0);
    expect(removeOld).toBeGreaterThan(extract);
    expect(script).toContain('chown -R 10001:10001 "$d"');
  });
});
