import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import { pinnedTraefikVersion, renderIngressJob, renderServiceJob } from "../plan/jobs.js";
import { ingressJobName } from "../plan/job-vars.js";
import { readInventory, workersOf } from "../cluster/inventory.js";
import type { CommandContext } from "../tasks/context.js";

/**
 * `render <service>@<version>`: the job's HCL as deploy would submit it. `render ingress[@<v>]`
 * renders the Traefik system job (default: the pinned Traefik version). No cluster needed.
 */
export async function render(
  ctx: CommandContext,
  arg: string,
): Promise<{ service: string; version: string; hcl: string }> {
  const services = Object.keys((await ctx.loadCluster()).services);
  const parsed = parseServiceRef(arg, [...services, ingressJobName], {
    versionOptional: arg === ingressJobName,
  });
  const config = await ctx.loadConfig();
  if (parsed.service === ingressJobName) {
    const version = parsed.version ?? (await pinnedTraefikVersion());
    // The workers bring-up recorded, else the ones cluster.yaml's count would make.
    const inventory = await readInventory(config);
    const names = inventory
      ? workersOf(inventory).map((w) => w.name)
      : Array.from(
          { length: config.target.workers },
          (_, i) => `${config.targetName}-worker-${i + 1}`,
        );
    const hcl = await renderIngressJob(
      config,
      names.map((name) => ({ name, version })),
    );
    return { service: ingressJobName, version, hcl };
  }
  const ref = requireVersion(parsed);
  const hcl = await renderServiceJob(config, ref);
  return { service: ref.service, version: ref.version, hcl };
}
