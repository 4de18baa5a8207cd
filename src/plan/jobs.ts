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
import { renderTemplateFile } from "../nomad/render.js";
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
  );
}

/** The Traefik version pinned in src/tools/versions.json: the ingress job's default. */
export async function pinnedTraefikVersion(): Promise<string> {
  const file = new URL("../../src/tools/versions.json", import.meta.url);
  const versions = JSON.parse(await readFile(file, "utf8")) as { traefik: { version: string } };
  return versions.traefik.version;
}

/** Renders the ingress job (Traefik as a system job on the workers) from jobs/ingress.nomad.hbs. */
export async function renderIngressJob(
  config: Pick<LoadedConfig, "root" | "target">,
  workers: readonly IngressWorker[],
): Promise<string> {
  return renderTemplateFile(
    resolve(config.root, "jobs/ingress.nomad.hbs"),
    ingressJobVars(workers, { https: servesHttps(config.target) }),
  );
}
