import { withCluster } from "../cluster/connect.js";
import { lookUp } from "../config/lookup.js";
import { abortReason, UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import { planPrune, type PrunePlan } from "../plan/prune.js";
import { repositoryPath } from "../plan/registry.js";
import type { CommandContext } from "../tasks/context.js";
import { registryApi, requireRegistry } from "../tasks/registry.js";
import { runStep } from "../tasks/runner.js";

export interface PruneResult {
  service: string;
  /** `<push address>/<repository>`. */
  repository: string;
  keep: PrunePlan["keep"];
  /** The tags the policy removes, newest first (on --dry-run: would remove). */
  remove: string[];
  /** Tags of `remove` left in place: their image is also a kept tag's (a delete would take both). */
  shared: Array<{ tag: string; with: string }>;
  outcome: "pruned" | "planned" | "nothing to prune";
}

/**
 * `prune <service> [--keep N]`: removes old tags of the service's image from the target's
 * registry by the policy of plan/prune.ts: every version Nomad's job versions refer to stays
 * (rollback can reach each of them, on any worker), and the newest N besides.
 */
export async function prune(
  ctx: CommandContext,
  service: string,
  options: { keep: number },
): Promise<PruneResult> {
  const config = await ctx.loadConfig();
  const names = Object.keys(config.services);
  if (!names.includes(service))
    throw new UsageError(
      `unknown service ${quote(service)}`,
      `known services: ${names.join(", ")}`,
    );
  const { push } = requireRegistry(config, "there is no registry to prune");
  const repository = repositoryPath(push, lookUp(config.services, service)!.image);
  const api = await registryApi(config);
  const tags = await api.tags(repository);
  // What Nomad still tracks decides what must stay: without it nothing is removed.
  const tracked = await withCluster(config, { signal: ctx.signal }, async (apis) =>
    (await apis.nomad.jobVersions(service, { signal: ctx.signal }))
      .map((job) => job.Meta?.version)
      .filter((v): v is string => typeof v === "string"),
  );
  const plan = planPrune({ tags, tracked, keep: options.keep });
  const result = (r: Pick<PruneResult, "outcome"> & Partial<PruneResult>): PruneResult => ({
    service,
    repository: `${push}/${repository}`,
    keep: plan.keep,
    remove: plan.remove,
    shared: [],
    ...r,
  });
  if (plan.remove.length === 0) return result({ outcome: "nothing to prune" });
  if (ctx.options.dryRun) return result({ outcome: "planned" });
  await ctx.confirm(
    `delete ${plan.remove.length} tag(s) of ${push}/${repository} (${plan.remove.join(", ")}); ${plan.keep.length} stay`,
  );
  const shared = await runStep(
    `Prune ${push}/${repository}: ${plan.remove.length} of ${tags.length} tags`,
    async (step) => {
      // A manifest is deleted by digest, with every tag naming it: never one a kept tag names.
      const kept = new Map<string, string>();
      for (const { tag } of plan.keep) {
        const digest = await api.digestOf(repository, tag);
        if (digest && !kept.has(digest)) kept.set(digest, tag);
      }
      const left: PruneResult["shared"] = [];
      const deleted = new Set<string>();
      for (const tag of plan.remove) {
        if (step.signal.aborted) throw abortReason(step.signal);
        const digest = await api.digestOf(repository, tag);
        if (!digest || deleted.has(digest)) continue;
        const keeper = kept.get(digest);
        if (keeper) {
          left.push({ tag, with: keeper });
          step.log(`${tag}: left, its image is also ${keeper}'s`);
          continue;
        }
        await api.deleteManifest(repository, digest);
        deleted.add(digest);
        step.log(`${tag}: deleted`);
      }
      return left;
    },
    { output: ctx.output, signal: ctx.signal },
  );
  return result({ outcome: "pruned", shared });
}

export function formatPrune(r: PruneResult): string {
  const kept = r.keep.map((k) => `${k.tag} (${k.why})`).join(", ") || "none";
  const verb = r.outcome === "planned" ? "would delete" : "deleted";
  const lines = [`${r.repository}: ${r.outcome}`, `  kept: ${kept}`];
  const gone = r.remove.filter((t) => !r.shared.some((s) => s.tag === t));
  if (gone.length) lines.push(`  ${verb}: ${gone.join(", ")}`);
  for (const s of r.shared) lines.push(`  left ${s.tag}: its image is also ${s.with}'s`);
  if (r.outcome === "pruned")
    lines.push(
      "  the space comes back with the registry's garbage collection (DigitalOcean: doctl registry garbage-collection start)",
    );
  return lines.join("\n");
}
