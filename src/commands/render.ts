import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import { renderServiceJob } from "../nomad/job.js";
import type { CommandContext } from "./context.js";

/** `render <service>@<version>`: the job's HCL as deploy would submit it. No cluster needed. */
export async function render(
  ctx: CommandContext,
  arg: string,
): Promise<{ service: string; version: string; hcl: string }> {
  const ref = requireVersion(parseServiceRef(arg, Object.keys((await ctx.loadCluster()).services)));
  const config = await ctx.loadConfig();
  const hcl = await renderServiceJob(config, ref);
  return { service: ref.service, version: ref.version, hcl };
}
