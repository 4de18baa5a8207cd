import { resolve } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import type { ServiceRef } from "../config/service-ref.js";
import { serviceJobVars, type UpdateTimings } from "../plan/job-vars.js";
import { renderTemplateFile } from "./render.js";

/** Renders a service's job template (HCL) for a version, from cluster.yaml's settings. */
export async function renderServiceJob(
  config: Pick<LoadedConfig, "root" | "target" | "services">,
  ref: ServiceRef,
  overrides: { update?: Partial<UpdateTimings> } = {},
): Promise<string> {
  const service = config.services[ref.service]!;
  return renderTemplateFile(
    resolve(config.root, service.job),
    serviceJobVars(config, ref, overrides),
  );
}
