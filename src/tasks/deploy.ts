import type { Inventory } from "../cluster/inventory.js";
import { readInventory, requireInventory } from "../cluster/inventory.js";
import { certificateSpecs, certificateVariable, servesHttps } from "../plan/tls.js";
import {
  issuerCa,
  pushIssuerImage,
  submitIssuerJob,
  waitForCertificates,
  waitUntilServed,
} from "./acme.js";
import { waitForDns } from "./dns.js";
import type { ServiceRef } from "../config/service-ref.js";
import { summarizeJobPlan, type JobPlanSummary } from "../nomad/deployment.js";
import { renderServiceJob } from "../plan/jobs.js";
import { buildsPlatformImages, imageRef } from "../plan/registry.js";
import { lookUp } from "../config/lookup.js";
import { packageDataHostOf, scheduleBackups, pushExportImage } from "./package-data.js";
import { refuseIfDeploying, takeDeployLockStep, type RolloutState } from "./rollout.js";
import { needed, type Step } from "./runner.js";

/**
 * Deploy's steps before and after the rollout (rollout.ts): the data's holder, render, validate,
 * plan, ship the export's image, submit, schedule the backups. Each is a step factory over
 * DeployState, named as the runbook names it.
 */
export interface DeployState extends RolloutState {
  hcl?: string;
  /** The hosts, and the worker holding the service's data (its job is pinned there). */
  inventory?: Inventory;
  dataHost?: string;
  summary?: JobPlanSummary;
  planIndex?: number;
  previousVersion?: string;
}

const keepsData = (s: DeployState) => Boolean(s.config.services[s.ref.service]?.data);

/** The version's image must be in the registry before anything is submitted (exit 2 if not). */
export function checkImageStep(ref: ServiceRef): Step<DeployState> {
  return {
    title: `Find ${ref.service}@${ref.version}'s image in the registry`,
    skip: (s) =>
      s.config.target.registry === "none" ? "no registry: the image is on this machine" : false,
    async run(s, step) {
      const repository = lookUp(s.config.services, s.ref.service)!.image;
      // Loaded here: the registry's client is not needed by a target without one.
      const { requireImageInRegistry } = await import("./registry.js");
      await requireImageInRegistry(s.config, repository, s.ref.version);
      step.log(
        `${imageRef(s.config.target.registry, repository, s.ref.version)} is in the registry`,
      );
    },
  };
}

/** The worker holding the service's data, which the job is pinned to. */
export function findDataHostStep(ref: ServiceRef): Step<DeployState> {
  return {
    title: `Find the worker that holds ${ref.service}'s data`,
    skip: (s) => (keepsData(s) ? false : "the service keeps no data"),
    async run(s, step) {
      s.inventory = await readInventory(s.config);
      s.dataHost = packageDataHostOf(s.config, s.inventory, s.ref.service);
      step.log(s.dataHost ? `pinned to ${s.dataHost}` : "no inventory: not pinned");
    },
  };
}

export function renderJobStep(ref: ServiceRef): Step<DeployState> {
  return {
    title: `Render the ${ref.service} job for ${ref.version}`,
    gives: ["hcl"],
    run: async (s) =>
      void (s.hcl = await renderServiceJob(s.config, s.ref, { dataNode: s.dataHost })),
  };
}

export function validateJobStep(): Step<DeployState> {
  return {
    title: "Validate the job with Nomad",
    needs: ["hcl"],
    gives: ["job"],
    run: async (s) =>
      void (s.job = await s.apis.nomad.parseJob(needed(s, "hcl", "Validate the job"))),
  };
}

/** Nomad's plan of the change, refused while another deploy or deployment is under way. */
export function planChangeStep(): Step<DeployState> {
  return {
    title: "Plan the change",
    needs: ["job"],
    gives: ["previousVersion", "planIndex", "summary"],
    async run(s, step) {
      const { nomad } = s.apis;
      const current = await nomad.readJob(s.ref.service);
      s.previousVersion = current?.Meta?.version;
      const plan = await nomad.planJob(needed(s, "job", "Plan the change"));
      // After the plan, not before: a deploy that took the lock and registered between a
      // check and this plan would make the plan look "unchanged" while it is still rolling.
      await refuseIfDeploying(s.apis, s.ref.service);
      s.planIndex = plan.JobModifyIndex;
      s.summary = summarizeJobPlan(plan);
      step.log(`running now: ${s.previousVersion ?? "nothing"}; deploying: ${s.ref.version}`);
      for (const line of s.summary.lines) step.log(line);
    },
  };
}

export function pushExportImageStep(): Step<DeployState> {
  return {
    title: "Push the backup export's image to the registry",
    skip: (s) =>
      !s.dataHost
        ? "the service keeps no data"
        : buildsPlatformImages(s.config.target)
          ? false
          : "the workers pull the official busybox image",
    run: (s, step) => pushExportImage(s.config, (l) => step.log(l)),
  };
}

/**
 * A service whose hostnames have no certificate yet (a new service, or new hostnames): the issuer
 * is given the configuration's certificates and gets one before the job is submitted, so that
 * the rollout's proofs through Traefik over HTTPS can pass.
 */
export function certificateFirstStep(ref: ServiceRef): Step<DeployState> {
  return {
    title: `A certificate for ${ref.service}'s hostnames`,
    skip: (s) => (servesHttps(s.config.target) ? false : "the target serves plain HTTP"),
    async run(s, step) {
      const spec = certificateSpecs(s.config).find((c) => c.service === s.ref.service);
      if (!spec) return;
      const stored = await s.apis.nomad.readVariable(certificateVariable(spec.name));
      if (stored?.Items.cert && stored.Items.domains === spec.domains.join(",")) {
        step.log(`issued already for ${spec.domains.join(", ")}`);
        return;
      }
      const log = (l: string) => step.log(l);
      log(`none yet for ${spec.domains.join(", ")}: the issuer gets one first`);
      const inventory = s.inventory ?? (await requireInventory(s.config));
      // The CA reaches the issuer through the load balancer: the names must point there first.
      await waitForDns(s.config, inventory, { signal: step.signal, log });
      const ca = await issuerCa(s.config, inventory, log, step.signal);
      await pushIssuerImage(s.config, log);
      await submitIssuerJob(s.config, s.apis.nomad, ca, log);
      const certificates = await waitForCertificates(s.config, s.apis.nomad, {
        signal: step.signal,
        log,
      });
      // This service's certificate only: another's may be renewed meanwhile (the issuer, woken,
      // looks at every one), and its new serial is the ingress's business, not this deploy's.
      const own = certificates.filter((c) => c.spec.service === s.ref.service);
      await waitUntilServed(s.config, inventory, own, { signal: step.signal, log });
      step.setTitle(`A certificate for ${ref.service}'s hostnames: issued`);
    },
  };
}

/** Registers the planned job, refused by Nomad if it changed since the plan (EnforceIndex). */
export function submitJobStep(): Step<DeployState> {
  return {
    title: "Submit the job (only if unchanged since the plan)",
    needs: ["job", "planIndex"],
    gives: ["jobVersion"],
    async run(s, step) {
      const registered = await s.apis.nomad.registerJob(
        needed(s, "job", "Submit the job"),
        needed(s, "planIndex", "Submit the job"),
      );
      const job = await s.apis.nomad.readJob(s.ref.service);
      s.jobVersion = job?.Version ?? 0;
      step.log(`job version ${s.jobVersion}, evaluation ${registered.EvalID.slice(0, 8)}`);
    },
  };
}

export function scheduleBackupsStep(ref: ServiceRef): Step<DeployState> {
  return {
    title: `Schedule ${ref.service}'s data backups`,
    skip: (s) => (s.dataHost ? false : "the service keeps no data"),
    run: async (s, step) =>
      step.log(
        await scheduleBackups(
          s.config,
          s.apis,
          s.ref.service,
          needed(s, "dataHost", "Schedule the backups"),
        ),
      ),
  };
}

/**
 * Deploy's runbook around the rollout, by phase: plan (nothing changes), submit (under the deploy
 * lock), then after the rollout (rolloutSteps) has proven the new version.
 */
export function deploySteps(ref: ServiceRef): {
  plan: Step<DeployState>[];
  submit: Step<DeployState>[];
  afterRollout: Step<DeployState>[];
} {
  return {
    plan: [
      checkImageStep(ref),
      findDataHostStep(ref),
      renderJobStep(ref),
      validateJobStep(),
      planChangeStep(),
    ],
    submit: [
      takeDeployLockStep(`deploy ${ref.service}@${ref.version}`),
      certificateFirstStep(ref),
      pushExportImageStep(),
      submitJobStep(),
    ],
    afterRollout: [scheduleBackupsStep(ref)],
  };
}
