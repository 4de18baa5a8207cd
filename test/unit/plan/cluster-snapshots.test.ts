import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCluster, parseSecrets } from "../../../src/config/parse.js";
import { ConfigError } from "../../../src/errors.js";
import { renderTemplateFile } from "../../../src/nomad/render.js";
import {
  clusterSnapshotJobVars,
  parseSnapshotReport,
  snapshotName,
  snapshotSettings,
  snapshotsAsBackup,
  snapshotTime,
} from "../../../src/plan/cluster-snapshots.js";
import { findDegradations, formatDegradations } from "../../../src/plan/health.js";
import { formatClusterSnapshots } from "../../../src/commands/status.js";

const root = resolve(import.meta.dirname, "../../..");
const recipient = "age12mv9u72usm8x0xjj8q4skc33msu7nhaql44mhsyl0muza4tgp4fs0kdazr";

/** A cluster document with one local target, its `snapshots` as given, and `services`. */
function clusterWith(snapshots: unknown, services: Record<string, unknown> = {}) {
  return {
    targets: {
      t: {
        provider: "local",
        region: "local",
        image: "elm-infra/host:latest",
        sizes: { manager: "local", worker: "local" },
        managers: 1,
        workers: 2,
        registry: { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" },
        ssh: { privateKey: "k" },
        ...(snapshots === undefined ? {} : { snapshots }),
      },
    },
    services: {
      "elm-lang.org": {
        job: "jobs/elm-lang.org.nomad.hbs",
        image: "elm-lang.org",
        hostnames: ["elm-lang.org"],
        healthPath: "/health",
        port: 8080,
        count: 1,
        resources: { cpu: 50, memory: 64 },
      },
      ...services,
    },
  };
}

const problemsOf = (doc: unknown) => {
  try {
    parseCluster(doc, "cluster.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
};

describe("the snapshots' settings", () => {
  it("default to hourly, the newest 24 kept; a target sets its own", () => {
    const plain = parseCluster(clusterWith(undefined), "cluster.yaml").targets.t!;
    expect(snapshotSettings(plain, "t")).toEqual({ schedule: "@hourly", keep: 24 });
    const own = parseCluster(clusterWith({ schedule: "*/15 * * * *", keep: 3 }), "cluster.yaml")
      .targets.t!;
    expect(snapshotSettings(own, "t")).toEqual({ schedule: "*/15 * * * *", keep: 3 });
    expect(snapshotSettings({ snapshots: { keep: 2 } }, "t")).toEqual({
      schedule: "@hourly",
      keep: 2,
    });
  });

  it("refuse a schedule that is not cron, a keep below 1, an unknown key; `cluster` is no service's name", () => {
    expect(problemsOf(clusterWith({ schedule: "hourly" }))).toEqual([
      expect.stringMatching(/^targets\.t\.snapshots\.schedule: must be a cron schedule/),
    ]);
    expect(problemsOf(clusterWith({ keep: 0 }))).toEqual([
      expect.stringMatching(/^targets\.t\.snapshots\.keep: /),
    ]);
    expect(problemsOf(clusterWith({ every: "1h" }))).toEqual([
      "targets.t.snapshots.every: unknown field",
    ]);
    const cluster = clusterWith(undefined).services["elm-lang.org"];
    expect(problemsOf(clusterWith(undefined, { cluster }))).toEqual([
      expect.stringMatching(/^services: must not name a service 'cluster'/),
    ]);
  });

  it("the identity in the secrets file must be an age identity", () => {
    const identity = "AGE-SECRET-KEY-1F3RQLQ6JNYTDH9LS3LELAQQDA4H0939UUEYAXUNJYR55KH5KU3SSZ7W00H";
    expect(
      parseSecrets({ clusterSnapshotIdentity: identity }, "s.yaml").clusterSnapshotIdentity,
    ).toBe(identity);
    expect(() => parseSecrets({ clusterSnapshotIdentity: recipient }, "s.yaml")).toThrow(
      /must be an age identity/,
    );
  });
});

describe("the snapshot job", () => {
  it("renders a periodic batch job on a worker, encrypting to the recipient, keeping the newest N", async () => {
    const vars = clusterSnapshotJobVars({
      target: {
        registry: { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" },
        snapshots: { schedule: "*/30 * * * *", keep: 5 },
      },
      targetName: "t",
      recipient,
    });
    expect(vars.image).toBe("10.213.0.5:5000/cluster-snapshot:v1");
    const hcl = await renderTemplateFile(resolve(root, "jobs/cluster-snapshot.nomad.hbs"), vars);
    expect(hcl).toContain('job "cluster-snapshot"');
    expect(hcl).toContain('type        = "batch"');
    expect(hcl).toContain('crons            = ["*/30 * * * *"]');
    expect(hcl).toMatch(/attribute = "\$\{meta\.elm_infra_role\}"\s+value\s+= "worker"/);
    expect(hcl).toContain('source    = "cluster-snapshots"');
    expect(hcl).toContain(`AGE_RECIPIENT = "${recipient}"`);
    expect(hcl).toContain('network_mode = "host"');
    expect(hcl).toContain("tail -n +6");
    // The tokens: from the job's own variable, into header files in secrets/, never the env.
    expect(hcl).toContain(
      '{{ with nomadVar \\"nomad/jobs/cluster-snapshot\\" }}X-Nomad-Token: {{ .nomad_token }}{{ end }}',
    );
    expect(hcl).toContain('-H @"$3"');
    expect(hcl).not.toMatch(/AGE-SECRET-KEY|TOKEN\s*=/);
  });

  it("defaults to the official-registry-free name on a target without a registry", () => {
    const vars = clusterSnapshotJobVars({
      target: { registry: "none" },
      targetName: "dev",
      recipient,
    });
    expect(vars).toMatchObject({
      schedule: "@hourly",
      keep: 24,
      pruneFrom: 25,
      image: "elm-infra/cluster-snapshot:v1",
    });
  });

  it("names each run's folder by its time, and reads what a run's log says it wrote", () => {
    const at = new Date("2026-12-05T20:30:07.123Z");
    expect(snapshotName(at)).toBe("cluster-20261205T203007Z");
    expect(snapshotTime("/srv/cluster-snapshots/cluster-20261205T203007Z")?.toISOString()).toBe(
      "2026-12-05T20:30:07.000Z",
    );
    expect(snapshotTime(".partial-cluster-20261205T203007Z")).toBeUndefined();
    const log = [
      "some line",
      "snapshot: cluster-20261205T203007Z nomad_bytes=5120 nomad_index=88 consul_bytes=20480 consul_index=123",
      "",
    ].join("\n");
    expect(parseSnapshotReport(log)).toEqual({
      name: "cluster-20261205T203007Z",
      files: { nomad: { bytes: 5120, index: 88 }, consul: { bytes: 20480, index: 123 } },
    });
    // An index the run could not read is left out; a run that wrote nothing has no report.
    expect(
      parseSnapshotReport(
        "snapshot: cluster-20261205T203007Z nomad_bytes=1 nomad_index= consul_bytes=2 consul_index=3",
      )?.files.nomad,
    ).toEqual({ bytes: 1 });
    expect(parseSnapshotReport("curl: (22) The requested URL returned error: 403")).toBeUndefined();
  });
});

describe("the snapshots' freshness", () => {
  const now = Date.parse("2026-12-05T12:00:00Z");
  const judged = (s: Parameters<typeof snapshotsAsBackup>[0]) =>
    formatDegradations(findDegradations({ services: [], backups: [snapshotsAsBackup(s)], now }));
  const hourly = { scheduled: true, schedule: "@hourly", keep: 24, maxAgeSeconds: 7200 };

  it.each([
    ["a snapshot within twice the schedule", "2026-12-05T10:00:00Z", ""],
    [
      "a snapshot older than twice the schedule",
      "2026-12-05T09:59:00Z",
      "cluster snapshots (Nomad, Consul): the last one succeeded 2h1m ago (2026-12-05T09:59:00Z); the schedule allows 2h0m",
    ],
  ])("%s", (_, newestAt, finding) => {
    expect(judged({ ...hourly, newestAt })).toBe(finding);
  });

  it("none yet, or no job, is degraded", () => {
    expect(judged(hourly)).toBe("cluster snapshots (Nomad, Consul): none has succeeded yet");
    expect(judged({ ...hourly, scheduled: false })).toBe(
      "cluster snapshots (Nomad, Consul): not scheduled: run bring-up",
    );
  });

  it("status says the newest one's age", () => {
    expect(formatClusterSnapshots({ ...hourly, newestAt: "2026-12-05T11:58:30Z" }, now)).toBe(
      "cluster snapshots (Nomad, Consul; encrypted with age): newest 1m30s old (2026-12-05T11:58:30Z); @hourly, newest 24 kept on each worker",
    );
    expect(formatClusterSnapshots({ ...hourly, scheduled: false }, now)).toMatch(
      /not scheduled \(run bring-up\)/,
    );
  });
});
