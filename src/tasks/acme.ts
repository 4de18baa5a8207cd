/**
 * HTTPS for a cluster: the CA the target trusts (on local, the root its Pebble serves now), the
 * ACL policies of the issuer and the ingress, the acme-issuer job, and the wait until every
 * certificate the target needs is stored where every worker's Traefik reads it.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { OperationError } from "../errors.js";
import { DockerClient } from "../docker/client.js";
import { done, notYet, waitFor, WaitTimeoutError } from "../wait.js";
import type { NomadClient } from "../nomad/client.js";
import type { AllocationStub } from "../nomad/types.js";
import { pullFailure } from "../nomad/deployment.js";
import { renderTemplateFile } from "../nomad/render.js";
import { pinnedVersion } from "../plan/jobs.js";
import {
  acmeIssuerJobName,
  acmeIssuerJobVars,
  acmePolicies,
  certificateWaitMs,
  issuerLockPath,
  issuerPlatformImage,
  type IssuerCa,
} from "../plan/acme.js";
import {
  acmeCa,
  certificateSpecs,
  certificateVariable,
  outlivesMargin,
  type CertificateSpec,
} from "../plan/tls.js";
import type { Inventory } from "../cluster/inventory.js";
import { targetPaths } from "../cluster/paths.js";
import { pushPlatformImages } from "./registry.js";
import { targetTrust } from "../cluster/trust.js";
import { servedCertificate } from "../traefik/served-certificate.js";
import { certificateFacts } from "../plan/verify.js";

type Log = (line: string) => void;

/** The lego version elm-infra pins (src/tools/versions.json): the issuer's image. */
export async function pinnedLegoVersion(): Promise<string> {
  return pinnedVersion("lego");
}

/**
 * Where the issuer finds its CA. On local: the target's Pebble, by the name its HTTPS
 * certificate carries, and the CA of that certificate; and the root Pebble issues from now is
 * added to the target's trusted CAs (Pebble makes a new one at each start; the roots it had
 * before stay, as certificates from them may still be served).
 */
export async function issuerCa(
  config: LoadedConfig,
  inventory: Inventory,
  log: Log,
  signal?: AbortSignal,
): Promise<IssuerCa> {
  const ca = acmeCa(config.targetName, config.target);
  if (ca.kind === "directory") return { directory: ca.directory, extraHosts: [] };
  const pebble = inventory.acme;
  if (!pebble)
    throw new OperationError(
      `target ${config.targetName} has no ACME CA recorded (the inventory predates it)`,
      `run bring-up again: elm-infra bring-up --target ${config.targetName}`,
    );
  const docker = DockerClient.local();
  const directoryCa = await docker.execOutput(pebble.container, ["cat", "/etc/pebble/minica.pem"]);
  const root = await pebbleRoot(docker, pebble.container, signal);
  const file = targetPaths(config).trustedCa;
  const trusted = (await targetTrust(config)).ca ?? "";
  if (!trusted.includes(root.trim())) {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${trusted}${root.trim()}\n`, { mode: 0o644 });
    log(`trusting the root Pebble issues from now (${file})`);
  }
  return {
    directory: pebble.directory,
    extraHosts: Object.entries(pebble.hosts).map(([name, address]) => `${name}:${address}`),
    directoryCa,
  };
}

/** Pebble's current root, from its management API (inside its container: nothing published). */
async function pebbleRoot(
  docker: DockerClient,
  container: string,
  signal?: AbortSignal,
): Promise<string> {
  const cmd = [
    "curl",
    "-sS",
    "--fail",
    "--max-time",
    "5",
    "--cacert",
    "/etc/pebble/minica.pem",
    "https://localhost:15000/roots/0",
  ];
  // Pebble answers a second or so after its container starts: a bounded wait.
  return waitFor(
    {
      what: `Pebble (${container}) to give its root certificate`,
      timeoutMs: 15_000,
      intervalMs: 500,
      maxAttempts: 20,
      ...(signal ? { signal } : {}),
      message: (t) => `Pebble (${container}) did not give its root certificate: ${t.last}`,
      hint: `look at its log: docker logs ${container}`,
    },
    async () => {
      const pem = await docker.execOutput(container, cmd).catch((e: Error) => e);
      if (pem instanceof Error) return notYet(pem.message);
      return pem.includes("BEGIN CERTIFICATE") ? done(pem) : notYet(pem.slice(0, 200));
    },
  );
}

/** The issuer and ingress policies, bound to their jobs (idempotent). */
export async function applyAcmePolicies(nomad: NomadClient): Promise<void> {
  for (const p of acmePolicies()) await nomad.upsertPolicy(p.name, p.rules, p.description, p.jobId);
}

/** Renders and submits the acme-issuer job when it differs from the one running. */
export async function submitIssuerJob(
  config: LoadedConfig,
  nomad: NomadClient,
  ca: IssuerCa,
  log: Log,
): Promise<boolean> {
  const legoVersion = await pinnedLegoVersion();
  const script = await readFile(resolve(config.root, "jobs/acme-issuer.sh"), "utf8");
  const hcl = await renderTemplateFile(
    resolve(config.root, "jobs/acme-issuer.nomad.hbs"),
    acmeIssuerJobVars(config, { legoVersion, ca, script }),
  );
  const job = await nomad.parseJob(hcl);
  const current = await nomad.readJob(acmeIssuerJobName);
  if (current && !current.Stop) {
    const plan = await nomad.planJob(job);
    if (!plan.Diff || plan.Diff.Type === "None") return false;
  }
  await nomad.registerJob(job, current?.JobModifyIndex ?? 0);
  log(`${acmeIssuerJobName} job submitted (lego ${legoVersion}, CA ${ca.directory})`);
  return true;
}

/**
 * The issuer's image in the target's registry, pushed from this machine
 * (images/base/build.sh acme-issuer).
 */
export async function pushIssuerImage(config: LoadedConfig, log: Log): Promise<void> {
  if (config.target.registry === "none") return;
  await pushPlatformImages(config, [issuerPlatformImage(await pinnedLegoVersion())], log);
}

export interface StoredCertificate {
  spec: CertificateSpec;
  serial: string;
  notAfter: string;
}

/**
 * Waits (bounded) until every certificate the target needs is in its Nomad variable for its
 * current hostnames, valid for at least a minute more (plan/tls.ts outlivesMargin). On the deadline: an error with what is missing and the issuer's last log.
 */
export async function waitForCertificates(
  config: LoadedConfig,
  nomad: NomadClient,
  options: { deadlineMs?: number; signal?: AbortSignal; log: Log },
): Promise<StoredCertificate[]> {
  const specs = certificateSpecs(config);
  // At least one full cycle of the issuer (Let's Encrypt's is 5 minutes and a lego run).
  const timeoutMs =
    options.deadlineMs ?? certificateWaitMs(acmeCa(config.targetName, config.target));
  let missing = specs;
  const expiring = new Set<string>();
  let said = "";
  let woken = false;
  const certificates = waitFor(
    {
      what: "the certificates",
      timeoutMs,
      intervalMs: 2000,
      ...(options.signal ? { signal: options.signal } : {}),
      message: (t) =>
        `no certificate for ${missing.map((m) => m.domains.join(", ")).join("; ")} within ${t.seconds} s`,
      hint: "the issuer's log says why (nomad alloc logs -job acme-issuer issuer); the CA must reach every hostname on port 80 through the load balancer",
    },
    async () => {
      const found: StoredCertificate[] = [];
      missing = [];
      expiring.clear();
      for (const spec of specs) {
        const v = await nomad.readVariable(certificateVariable(spec.name));
        if (v && v.Items.domains === spec.domains.join(",") && v.Items.cert) {
          const { serial, notAfter } = certificateFacts(v.Items.cert);
          // Expired or about to: the issuer has not renewed it; it is waited for (and woken).
          if (outlivesMargin(notAfter, new Date())) found.push({ spec, serial, notAfter });
          else {
            missing.push(spec);
            expiring.add(spec.name);
          }
        } else missing.push(spec);
      }
      if (missing.length === 0) return done(found);
      // An issuer asleep (its check interval, or a backoff after failed tries while DNS did not
      // point here yet) looks now: the names resolve, this step waited for that.
      if (!woken) woken = await wakeIssuer(nomad, missing, options.log);
      const issuers = (await nomad.jobAllocations(acmeIssuerJobName)).data;
      await releaseStaleIssuerLock(nomad, options.log, issuers);
      // An issuer whose image cannot be pulled never issues: said at once, not after the deadline.
      const held = issuers
        .filter((a) => a.DesiredStatus === "run")
        .map(pullFailure)
        .find((f) => f !== undefined);
      if (held)
        throw new OperationError(
          `the ACME issuer cannot start: ${held}`,
          "this step pushes the issuer's image before it submits the job: check the registry's credentials and that the workers reach it, then run bring-up again",
        );
      const now = `waiting for ${missing.map((m) => `${m.domains[0]}${expiring.has(m.name) ? " (its certificate expires within a minute: renewing)" : ""}`).join(", ")}`;
      if (now !== said) options.log((said = now));
      return notYet(now);
    },
  );
  // The issuer's last lines go with the failure.
  return certificates.catch(async (error: unknown) => {
    if (error instanceof WaitTimeoutError) error.message += await issuerLogTail(nomad);
    throw error;
  });
}

/**
 * Waits (bounded) until the load balancer serves each stored certificate for its first name,
 * verified against the target's trust: Traefik on the worker it reached has loaded it.
 */
export async function waitUntilServed(
  config: LoadedConfig,
  inventory: Inventory,
  stored: readonly StoredCertificate[],
  options: { deadlineMs?: number; signal?: AbortSignal; log: Log },
): Promise<void> {
  const lb = inventory.loadBalancer;
  if (!lb) return;
  const trust = await targetTrust(config);
  const deadline = Date.now() + (options.deadlineMs ?? 60_000);
  // One deadline for them all: each certificate waits for what the ones before it left.
  for (const cert of stored) {
    const name = cert.spec.domains[0]!;
    await waitFor(
      {
        what: `the load balancer to serve the certificate of ${name}`,
        timeoutMs: Math.max(0, deadline - Date.now()),
        intervalMs: 1000,
        maxAttempts: 100,
        ...(options.signal ? { signal: options.signal } : {}),
        message: (t) =>
          `the load balancer does not serve the certificate of ${name} yet: ${t.last}`,
        hint: "run bring-up again; elm-infra status --check lists the certificates",
      },
      async () => {
        const pem = await servedCertificate({
          host: lb.host,
          port: lb.httpsPort,
          servername: name,
          trust,
          name: "the load balancer",
        }).catch((e: Error) => e);
        if (pem instanceof Error) return notYet(pem.message);
        const serial = certificateFacts(pem).serial;
        return serial === cert.serial
          ? done(undefined)
          : notYet(`it serves serial ${serial}, not ${cert.serial}`);
      },
    );
    options.log(`${name}: served through the load balancer (serial ${cert.serial})`);
  }
}

/**
 * Wakes the running issuer (SIGUSR1: jobs/acme-issuer.sh drops its backoff and looks at once).
 * True once said; a failure to signal is said and the wait goes on (the issuer's own cycle).
 */
async function wakeIssuer(
  nomad: NomadClient,
  missing: readonly CertificateSpec[],
  log: Log,
): Promise<boolean> {
  const running = (await nomad.jobAllocations(acmeIssuerJobName)).data.filter(
    (a) => a.ClientStatus === "running" && a.TaskStates?.issuer?.State === "running",
  );
  if (running.length === 0) return false;
  for (const alloc of running) {
    try {
      await nomad.signalTask(alloc.ID, "issuer", "SIGUSR1");
    } catch (error) {
      log(`could not wake the issuer (${(error as Error).message}): it looks on its own cycle`);
      return true;
    }
  }
  log(
    `woke the issuer: no current certificate yet for ${missing.map((m) => m.domains[0]).join(", ")}`,
  );
  return true;
}

/**
 * The issuers' lock held by an allocation that no longer runs (killed while it issued, its host
 * lost) is given back: Nomad would keep it for twice its TTL, counted again from each change of
 * leader, and no certificate is issued meanwhile. Only a management token reads a lock's id.
 * `issuers`: the issuer job's allocations when the caller has just read them.
 */
export async function releaseStaleIssuerLock(
  nomad: NomadClient,
  log: Log,
  issuers?: readonly AllocationStub[],
): Promise<void> {
  const lock = await nomad.readVariable(issuerLockPath);
  const id = lock?.Lock?.ID;
  const holder = lock?.Items.holder;
  if (!id || !holder) return;
  const allocations = issuers ?? (await nomad.jobAllocations(acmeIssuerJobName)).data;
  const running = allocations.some((a) => a.ID === holder && a.ClientStatus === "running");
  if (running) return;
  await nomad.releaseVariableLock(issuerLockPath, id);
  log(
    `gave back the issuers' lock ${issuerLockPath}: its holder ${holder.slice(0, 8)} no longer runs`,
  );
}

async function issuerLogTail(nomad: NomadClient): Promise<string> {
  try {
    const allocs = (await nomad.jobAllocations(acmeIssuerJobName)).data;
    const latest = allocs.sort((a, b) => (b.CreateIndex ?? 0) - (a.CreateIndex ?? 0))[0];
    if (!latest) return " (the issuer has no allocation)";
    const tail = await nomad.allocationLogTail(latest.ID, "issuer", "stdout", 1500);
    return `\nthe issuer's last lines:\n${tail.trim().split("\n").slice(-8).join("\n")}`;
  } catch {
    return "";
  }
}
