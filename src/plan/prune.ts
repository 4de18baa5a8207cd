/**
 * Which tags of a service's image the registry keeps, pure. The policy: every version a job
 * version Nomad still tracks refers to (rollback can return to any of them, on any worker, new
 * ones included), the newest `keep` versions besides, and every tag that is not a version
 * (elm-infra did not push it, so it does not judge it). The rest goes.
 */
import semver from "semver";

export interface PruneInput {
  /** The repository's tags, as the registry lists them. */
  tags: readonly string[];
  /** The versions the service's job versions in Nomad refer to (the running one among them). */
  tracked: readonly string[];
  /** How many of the newest versions to keep besides the tracked ones. */
  keep: number;
}

export type KeepReason = "tracked by Nomad" | "among the newest" | "not a version";

export interface PrunePlan {
  keep: Array<{ tag: string; why: KeepReason }>;
  /** Newest first. */
  remove: string[];
}

export const defaultKeep = 10;

export function planPrune(input: PruneInput): PrunePlan {
  const tracked = new Set(input.tracked);
  const keep: PrunePlan["keep"] = [];
  const versions: string[] = [];
  for (const tag of new Set(input.tags)) {
    if (tracked.has(tag)) keep.push({ tag, why: "tracked by Nomad" });
    else if (semver.valid(tag) === null) keep.push({ tag, why: "not a version" });
    else versions.push(tag);
  }
  const newestFirst = versions.sort((a, b) => semver.rcompare(a, b));
  for (const tag of newestFirst.slice(0, Math.max(0, input.keep)))
    keep.push({ tag, why: "among the newest" });
  return { keep, remove: newestFirst.slice(Math.max(0, input.keep)) };
}
