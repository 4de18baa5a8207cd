import { resolve } from "node:path";
import { lookUp } from "../config/lookup.js";
import { UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import type { LoadedConfig } from "../config/load.js";
import type { ServiceRef } from "../config/service-ref.js";
import { readFile } from "node:fs/promises";
import {
  ingressJobVars,
  serviceJobVars,
  type IngressWorker,
  type UpdateTimings,
} from "./job-vars.js";
import { jobFolders, renderTemplateFile } from "../nomad/render.js";
import { servesHttps } from "./tls.js";

/** Renders a service's job template (HCL) for a version, from cluster.yaml's settings. */
export async function renderServiceJob(
  config: Pick<LoadedConfig, "root" | "target" | "services">,
  ref: ServiceRef,
  overrides: { update?: Partial<UpdateTimings>; dataNode?: string | undefined } = {},
): Promise<string> {
  const service = lookUp(config.services, ref.service);
  if (!service) throw new UsageError(`unknown service ${quote(ref.service)}`);
  return renderTemplateFile(
    resolve(config.root, service.job),
    serviceJobVars(config, ref, overrides),
    { within: jobFolders(config.root) },
  );
}

/** A tool's version pinned in src/tools/versions.json (what the hosts and jobs get). */
export async function pinnedVersion(tool: string): Promise<string> {
  const file = new URL("../../src/tools/versions.json", import.meta.url);
  const versions = JSON.parse(await readFile(file, "utf8")) as Record<string, { version: string }>;
  const pinned = versions[tool]?.version;
  if (!pinned) throw new Error(`src/tools/versions.json pins no ${tool}`);
  return pinned;
}

/** The Traefik version pinned in src/tools/versions.json: the ingress job's default. */
export async function pinnedTraefikVersion(): Promise<string> {
  return pinnedVersion("traefik");
}

/** Renders the ingress job (Traefik as a system job on the workers) from jobs/ingress.nomad.hbs. */
export async function renderIngressJob(
  config: Pick<LoadedConfig, "root" | "target">,
  workers: readonly IngressWorker[],
): Promise<string> {
  return renderTemplateFile(
    resolve(config.root, "jobs/ingress.nomad.hbs"),
    ingressJobVars(workers, { https: servesHttps(config.target), target: config.target }),
  );
}
