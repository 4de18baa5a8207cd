/**
 * Issue 22, item 4's disaster recovery: every manager lost. A cluster snapshot is taken, the only
 * manager's machine removed (its host container gone) and left gone for longer than Nomad's
 * default template retries last (about five minutes: the workers' unbounded retries keep Traefik
 * serving meanwhile); then `bring-up` judges every manager lost, makes a new one and restores the
 * newest snapshots. Under the probe on both sites throughout: 0 failed requests. Afterwards the
 * same jobs run, the same certificate serials are served, and the secrets file's tokens work.
 * Runs after the host-loss scenarios (which name manager-1 and leave 1 manager + 2 workers).
 */
import { expect, it } from "vitest";
import type { BringUpResult } from "../../../src/commands/bring-up.js";
import type { ClusterBackupResult } from "../../../src/commands/backup.js";
import { clusterSnapshotVariable } from "../../../src/plan/cluster-snapshots.js";
import { certificateName, certificateVariable } from "../../../src/plan/tls.js";
import { certificateFacts } from "../../../src/plan/verify.js";
import {
  anyVersion,
  docker,
  e2e,
  eachEvent,
  elmInfraWatched,
  elmInfra,
  ensureDeployed,
  errorOf,
  failedRequestsOf,
  hostNames,
  noFailures,
  resultOf,
  trustedCa,
  underProbe,
  type WatchedEvent,
  withE2eCluster,
} from "../support.js";
import { servedCertificate } from "./https.js";
import { readSecretsFile } from "./secrets.js";

/** How long the managers stay gone before the restore is done: past the default template retries. */
const goneAtLeastMs = 300_000;
/**
 * When bring-up starts after the loss: 35 s before the 5 min are up, its steps before the restore
 * (OpenTofu's plan and apply, the new manager's Ansible) take the rest. They took 54 s and 50 s
 * in this machine's runs (2026-12-07; 4 min was too early once); starting at 5 min itself cost
 * the issue's test budget about 50 s more than the premise needs. The test checks the premise.
 */
const bringUpAfterMs = goneAtLeastMs - 35_000;

/** bring-up's JSON event of the restore step's end. */
const restoreCompleted = (e: WatchedEvent) =>
  e.state === "completed" && /restore the cluster's state/.test(e.title ?? "");

const certificateNames = ["elm-lang.org", "package.elm-lang.org"] as const;

/** Serials as the served certificates give them: lower-case hex without leading zeros. */
const normalSerial = (s: string) => s.toLowerCase().replace(/^0+/, "");

/**
 * What must come back: the jobs that run (not the snapshot job's runs), the certificates served,
 * and the ones stored in Nomad (a renewal reaches the workers' Traefik some seconds after it is
 * stored: a snapshot taken meanwhile holds a serial not served yet).
 */
async function observed(): Promise<{
  jobs: string[];
  served: Record<string, { serial: string; validFrom: Date }>;
  stored: Record<string, string>;
}> {
  const stored: Record<string, string> = {};
  const jobs = await withE2eCluster(async (apis) => {
    for (const name of certificateNames) {
      const cert = (await apis.nomad.readVariable(certificateVariable(certificateName(name))))
        ?.Items.cert;
      if (cert) stored[name] = normalSerial(certificateFacts(cert).serial);
    }
    return (await apis.nomad.jobsWithPrefix(""))
      .filter((j) => !j.ParentID && j.Status === "running")
      .map((j) => j.ID)
      .sort();
  });
  const ca = await trustedCa();
  const served: Record<string, { serial: string; validFrom: Date }> = {};
  for (const name of certificateNames) {
    const cert = await servedCertificate("127.0.0.1", e2e.httpsPort, name, ca);
    expect(cert.authorized, `${name}: ${cert.error}`).toBe(true);
    served[name] = { serial: cert.serial, validFrom: cert.validFrom };
  }
  return { jobs, served, stored };
}

/** The secrets file's tokens, each used against the restored cluster. */
async function expectSecretsTokensWork(): Promise<void> {
  const secrets = await readSecretsFile();
  await withE2eCluster(async (apis) => {
    for (const field of [
      "consulToken",
      "consulAgentToken",
      "consulTraefikToken",
      "consulNomadToken",
    ])
      expect(await apis.consul.tokenOf(secrets[field]!), field).toBeDefined();
    // The management token reads the snapshot job's variable: the keyring came back with the state.
    const variable = await apis.nomad.readVariable(clusterSnapshotVariable);
    expect(variable?.Items.nomad_token === secrets.nomadToken, "nomadToken").toBe(true);
    expect(variable?.Items.consul_token === secrets.consulToken, "consulToken").toBe(true);
  });
}

export function disasterRecoveryScenarios(): void {
  it("every manager lost: a snapshot taken, the only manager's machine removed and left gone over 5 minutes, bring-up makes a new one and restores the newest snapshots; under the probe on both sites 0 failed requests; the same jobs, certificate serials and tokens after", async () => {
    const began = Date.now();
    await ensureDeployed({ "elm-lang.org": anyVersion, "package.elm-lang.org": anyVersion });
    const beforeBackup = await observed();
    const backup = await elmInfra(["backup", "cluster"]);
    expect(backup.exitCode, errorOf(backup)).toBe(0);
    const taken = resultOf<ClusterBackupResult>(backup);
    const before = await observed();
    expect(before.jobs).toEqual(beforeBackup.jobs);
    const managers = (await hostNames()).split("\n").filter((n) => n.includes("-manager-"));
    expect(managers.length).toBeGreaterThan(0);

    let lostAt = 0;
    let restoredAt = 0;
    const steps: string[] = [];
    const { value: run, reports } = await underProbe(async () => {
      lostAt = Date.now();
      for (const manager of managers) await docker("rm", "-f", manager);
      await new Promise((r) => setTimeout(r, bringUpAfterMs));
      const { run } = await elmInfraWatched(["bring-up", "--yes"], (running) =>
        eachEvent(running, (e) => {
          if (!restoredAt && restoreCompleted(e)) restoredAt = Date.now();
          // bring-up's steps and lines (not Ansible's tasks), timed from the loss: where the
          // time after it goes
          const what =
            e.type === "task"
              ? `${e.state}: ${e.title}`
              : e.type === "log" && !/^(task|play): /.test(e.message ?? "")
                ? e.message
                : "";
          if (what)
            steps.push(`${((Date.now() - lostAt) / 1000).toFixed(1)} s ${what.slice(0, 160)}`);
        }),
      );
      return run;
    });
    console.log(
      `every manager lost: ${restoredAt ? `${((restoredAt - lostAt) / 1000).toFixed(0)} s` : "not restored:"} without managers, ${((Date.now() - lostAt) / 1000).toFixed(0)} s to the end of bring-up; probe ${JSON.stringify(failedRequestsOf(reports))}`,
    );
    console.log(`bring-up's steps after the loss:\n${steps.join("\n")}`);
    // What bring-up did last, when it failed: its step lines say where.
    const said = run.events
      .slice(-40)
      .map((e) => JSON.stringify(e).slice(0, 300))
      .join("\n");
    expect(run.exitCode, `${errorOf(run)}\nbring-up's last events:\n${said}`).toBe(0);
    const data = resultOf<BringUpResult>(run);
    expect(data.deadHosts.map((d) => d.host).sort()).toEqual([...managers].sort());
    // The newest pair: the one just taken, or a scheduled run's since.
    expect(data.restoredFrom!.name >= taken.name, JSON.stringify(data.restoredFrom)).toBe(true);
    expect(restoredAt - lostAt).toBeGreaterThan(goneAtLeastMs);
    expect(failedRequestsOf(reports)).toEqual(noFailures(reports));
    for (const r of reports) expect(r.sent).toBeGreaterThan(1000);

    const now = (await hostNames()).split("\n");
    const fresh = now.filter((n) => n.includes("-manager-"));
    expect(fresh).toHaveLength(managers.length);
    expect(fresh.filter((m) => managers.includes(m))).toEqual([]);
    expect(data.cluster!.checks.filter((c) => !c.ok)).toEqual([]);
    // What the restore brought back: the same jobs, and the very certificates served before.
    const restored = data.restoredFrom!;
    expect(restored.jobs).toEqual(before.jobs);
    // The snapshot holds what was stored when it was taken: the serial stored (or served) just
    // before or just after it (renewals are due every 200 s here).
    expect(restored.certificates.map((c) => c.service).sort()).toEqual(
      [...certificateNames].sort(),
    );
    for (const c of restored.certificates)
      expect(
        [beforeBackup, before].flatMap((o) => [o.stored[c.service], o.served[c.service]!.serial]),
        c.service,
      ).toContain(normalSerial(c.serial));
    // Afterwards: the same jobs run; each site serves the same certificate, or its renewal (the
    // test's certificates are due 200 s after issuance, and the managers were gone longer).
    const after = await observed();
    expect(after.jobs).toEqual(before.jobs);
    for (const name of certificateNames) {
      const served = after.served[name]!;
      if (served.serial !== before.served[name]!.serial)
        expect(served.validFrom.getTime(), `${name} renewed after the restore`).toBeGreaterThan(
          lostAt - 60_000,
        );
    }
    await expectSecretsTokensWork();
    e2e.timings["disaster recovery (scenario)"] = Date.now() - began;
  });
}
