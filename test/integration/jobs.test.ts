/**
 * Every job in jobs/, rendered from the repository's own cluster.yaml for each target, is
 * accepted by a real Nomad (`/v1/jobs/parse`, then a plan) and says what the README promises:
 * canary + auto-revert for the sites, a host volume for the package site's data, and Traefik as
 * a system job on static ports 80/443.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsul, startNomad, type ConsulAgent, type NomadAgent } from "../harness/agents.js";
import { loadConfig } from "../../src/config/load.js";
import { NomadClient } from "../../src/nomad/client.js";
import { pinnedTraefikVersion, renderIngressJob, renderServiceJob } from "../../src/plan/jobs.js";
import type { NomadJob } from "../../src/nomad/types.js";
import { renderTemplateFile } from "../../src/nomad/render.js";
import { traefikImage } from "../../src/plan/job-vars.js";
import { backupJobVars } from "../../src/plan/package-data.js";
import { acmeIssuerJobVars } from "../../src/plan/acme.js";
import { clusterSnapshotJobVars } from "../../src/plan/cluster-snapshots.js";
import { renewalDivisor } from "../../src/plan/tls.js";
import { readFile } from "node:fs/promises";

const repo = resolve(import.meta.dirname, "../..");
let consul: ConsulAgent;
let nomadAgent: NomadAgent;
let nomad: NomadClient;

beforeAll(async () => {
  consul = await startConsul();
  nomadAgent = await startNomad({ consul });
  nomad = new NomadClient({ address: nomadAgent.http });
}, 300_000);

afterAll(async () => {
  await nomadAgent?.stop();
  await consul?.stop();
});

/** The parts of a parsed job this test reads (Nomad's JSON job, as /v1/jobs/parse returns it). */
interface ParsedGroup {
  Name: string;
  Count: number;
  ShutdownDelay?: number | null;
  Update?: {
    Canary: number;
    AutoRevert: boolean;
    AutoPromote: boolean;
    MinHealthyTime?: number;
  } | null;
  Migrate?: { MaxParallel: number; HealthCheck: string; MinHealthyTime: number } | null;
  Networks?: Array<{ ReservedPorts?: Array<{ Label: string; Value: number }> | null }> | null;
  Volumes?: Record<string, { Type: string; Source: string; ReadOnly: boolean }> | null;
  Services?: Array<{ Name: string; Tags?: string[]; CanaryTags?: string[] }> | null;
  Tasks: Array<{
    Name: string;
    Driver: string;
    Config: Record<string, unknown>;
    VolumeMounts?: Array<{ Volume: string; Destination: string }> | null;
  }>;
}
const groups = (job: NomadJob) => job.TaskGroups as unknown as ParsedGroup[];

describe.each(["production", "local"])("the jobs rendered for target %s", (target) => {
  const config = () => loadConfig({ file: resolve(repo, "cluster.yaml"), target, env: {} });

  it("elm-lang.org: one canary, auto-revert, promoted by elm-infra, routed on every hostname", async () => {
    const job = await nomad.parseJob(
      await renderServiceJob(await config(), { service: "elm-lang.org", version: "1.4.2" }),
    );
    expect(job.ID).toBe("elm-lang.org");
    const [group] = groups(job);
    expect(group!.Update).toMatchObject({ Canary: 1, AutoRevert: true, AutoPromote: false });
    // A drain moves one instance at a time, the next after the deploy's healthy time.
    expect(group!.Migrate).toMatchObject({
      MaxParallel: 1,
      HealthCheck: "checks",
      MinHealthyTime: group!.Update!.MinHealthyTime,
    });
    const tags = group!.Services!.flatMap((s) => s.Tags ?? []).join("\n");
    expect(tags).toContain("Host(`elm-lang.org`)");
    expect(tags).toContain("Host(`www.elm-lang.org`)");
    const canaryTags = group!.Services!.flatMap((s) => s.CanaryTags ?? []).join("\n");
    expect(canaryTags).toMatch(/X-Elm-Canary/);
    // Group-level: the services are deregistered, then the task waits before it is killed.
    expect(group!.ShutdownDelay).toBe(5e9);
    expect(String(group!.Tasks[0]!.Config.image)).toMatch(/elm-lang\.org:1\.4\.2$/);

    const plan = await nomad.planJob(job);
    expect(plan.Diff?.Type).toBe("Added");
  });

  it("package.elm-lang.org: its data on a host volume, not in the image", async () => {
    const job = await nomad.parseJob(
      await renderServiceJob(await config(), { service: "package.elm-lang.org", version: "2.0.1" }),
    );
    const [group] = groups(job);
    const volumes = Object.values(group!.Volumes ?? {});
    expect(volumes).toEqual([expect.objectContaining({ Type: "host", ReadOnly: false })]);
    const mounts = group!.Tasks[0]!.VolumeMounts ?? [];
    expect(mounts.map((m) => m.Destination)).toEqual(["/data"]);
    expect(group!.Update).toMatchObject({ Canary: 1, AutoRevert: true, AutoPromote: false });

    // Beside the site, the backup export reads the same volume, read-only, as a Nomad service.
    const exporter = groups(job).find((g) => g.Name === "backup-export")!;
    expect(Object.values(exporter.Volumes ?? {})).toEqual([
      expect.objectContaining({ Type: "host", ReadOnly: true }),
    ]);
    expect(JSON.stringify(exporter.Services)).toContain('"Provider":"nomad"');

    // This dev agent has no such host volume: Nomad's own plan says the groups cannot be placed.
    const plan = await nomad.planJob(job);
    expect(Object.keys(plan.FailedTGAllocs ?? {}).sort()).toEqual(["backup-export", group!.Name]);
  });

  it("package.elm-lang.org-backup: a periodic batch job kept off the holder, on its own host volume", async () => {
    const loaded = await config();
    const vars = backupJobVars({
      service: "package.elm-lang.org",
      target: loaded.target,
      holder: `${target}-worker-1`,
      backup: loaded.services["package.elm-lang.org"]!.data!.backup,
    });
    const job = await nomad.parseJob(
      await renderTemplateFile(resolve(repo, "jobs/package-backup.nomad.hbs"), vars),
    );
    expect(job.ID).toBe("package.elm-lang.org-backup");
    expect(job.Type).toBe("batch");
    expect(JSON.stringify(job.Periodic)).toContain("@hourly");
    const [group] = groups(job);
    const constraints = (group as unknown as { Constraints: unknown[] }).Constraints;
    expect(constraints).toContainEqual(
      expect.objectContaining({ RTarget: `${target}-worker-1`, Operand: "!=" }),
    );
    expect(Object.values(group!.Volumes ?? {})).toEqual([
      expect.objectContaining({ Type: "host", Source: "package-backups" }),
    ]);
  });

  it("cluster-snapshot: a periodic batch job on a worker, its own host volume, its tokens from its Nomad variable", async () => {
    const loaded = await config();
    const vars = clusterSnapshotJobVars({
      target: loaded.target,
      targetName: target,
      recipient: "age12mv9u72usm8x0xjj8q4skc33msu7nhaql44mhsyl0muza4tgp4fs0kdazr",
    });
    const job = await nomad.parseJob(
      await renderTemplateFile(resolve(repo, "jobs/cluster-snapshot.nomad.hbs"), vars),
    );
    expect(job.ID).toBe("cluster-snapshot");
    expect(job.Type).toBe("batch");
    expect(JSON.stringify(job.Periodic)).toContain("@hourly");
    const [group] = groups(job);
    const constraints = (group as unknown as { Constraints: unknown[] }).Constraints;
    expect(constraints).toContainEqual(
      expect.objectContaining({ LTarget: "${meta.elm_infra_role}", RTarget: "worker" }),
    );
    expect(Object.values(group!.Volumes ?? {})).toEqual([
      expect.objectContaining({ Type: "host", Source: "cluster-snapshots" }),
    ]);
    const task = group!.Tasks[0] as unknown as {
      Env: Record<string, string>;
      Templates: Array<{ DestPath: string; EmbeddedTmpl: string }>;
    };
    expect(task.Env.AGE_RECIPIENT).toMatch(/^age1/);
    expect(task.Templates.map((t) => t.DestPath)).toEqual([
      "secrets/nomad.header",
      "secrets/consul.header",
      "local/snapshot.sh",
    ]);
    expect(task.Templates[0]!.EmbeddedTmpl).toContain('nomadVar "nomad/jobs/cluster-snapshot"');
  });

  it("ingress: Traefik as a system job, one group pinned to each worker, its Consul token from a Nomad variable", async () => {
    const version = await pinnedTraefikVersion();
    const workers = ["local-worker-1", "local-worker-2"].map((name) => ({ name, version }));
    const loaded = await config();
    const job = await nomad.parseJob(await renderIngressJob(loaded, workers));
    expect(job.ID).toBe("ingress");
    expect(job.Type).toBe("system");
    expect(groups(job).map((g) => g.Name)).toEqual(["local-worker-1", "local-worker-2"]);
    const [group] = groups(job);
    const ports = (group!.Networks ?? []).flatMap((n) => n.ReservedPorts ?? []);
    expect(ports.map((p) => p.Value).sort((a, b) => a - b)).toEqual([80, 443, 8082]);
    const task = group!.Tasks[0]!;
    // The official image in production; the target's own build, from its registry, on local.
    expect(task.Config.image).toBe(traefikImage(loaded.target, version));
    expect(task.Config.image).toBe(
      target === "local" ? `10.213.0.5:5000/traefik:v${version}` : `traefik:v${version}`,
    );
    // Each worker's Traefik reads its own token variable: rotate renews them one worker at a time.
    expect(JSON.stringify(task)).toContain('nomadVar \\"nomad/jobs/ingress/local-worker-1\\"');

    const plan = await nomad.planJob(job);
    expect(plan.Diff?.Type).toBe("Added");
  });

  it("acme-issuer: one instance, its challenge server routed by Traefik, its script and the CA as files, a workload identity for the Task API", async () => {
    const loaded = await config();
    const script = await readFile(resolve(repo, "jobs/acme-issuer.sh"), "utf8");
    const vars = acmeIssuerJobVars(loaded, {
      legoVersion: "4.26.0",
      ca: {
        directory: "https://pebble:14000/dir",
        extraHosts: ["pebble:10.213.0.3"],
        directoryCa: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      },
      script,
    });
    const job = await nomad.parseJob(
      await renderTemplateFile(resolve(repo, "jobs/acme-issuer.nomad.hbs"), vars),
    );
    expect(job.ID).toBe("acme-issuer");
    const [group] = groups(job);
    expect(group!.Count).toBe(1);
    const [challenge, issuer] = group!.Tasks;
    expect(challenge!.Config.image).toMatch(/acme-issuer:v4\.26\.0$/);
    const text = JSON.stringify(issuer);
    // Nomad keeps the script byte for byte: no HCL interpolation, no template expansion.
    expect(text).toContain(JSON.stringify(script).slice(1, -1));
    expect(text).toContain('"ACME_CA_FILE":"/local/acme-ca.pem"');
    // The renewal rule's one source (tls.ts) reaches the script's environment.
    expect(text).toContain(`"RENEWAL_DIVISOR":"${renewalDivisor}"`);
    expect(text).toMatch(/"Identities?":/);
    const plan = await nomad.planJob(job);
    expect(plan.Diff?.Type).toBe("Added");
  });
});
