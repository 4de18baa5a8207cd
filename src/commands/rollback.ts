import { parseServiceRef } from "../config/service-ref.js";
import { acquireLock, deployLockKey, lockHolder, type HeldLock } from "../consul/lock.js";
import { OperationError, UsageError } from "../errors.js";
import type { NomadJob } from "../nomad/types.js";
import { revertSteps, rolloutSteps, type RolloutState } from "../tasks/rollout.js";
import { runSteps } from "../tasks/runner.js";
import { connectToCluster } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";

export interface RollbackResult {
  service: string;
  from: string | null;
  to: string;
  jobVersion: number | null;
  outcome: "rolled-back" | "planned";
}

/**
 * Pure: the job version to go back to. With a version, the newest job version that ran it;
 * without, the newest stable job version that runs something other than what runs now.
 */
export function chooseRollbackTarget(
  versions: NomadJob[],
  wanted: string | undefined,
): NomadJob | undefined {
  const sorted = [...versions].sort((a, b) => (b.Version ?? 0) - (a.Version ?? 0));
  const current = sorted[0];
  const runningNow = current?.Meta?.version;
  const older = sorted.slice(1);
  if (wanted !== undefined)
    return (
      older.find((j) => j.Meta?.version === wanted) ??
      (runningNow === wanted ? undefined : undefined)
    );
  return older.find((j) => j.Stable && j.Meta?.version !== runningNow);
}

/** `rollback <service>[@<version>]`: revert the job, then the same watch and Traefik proofs. */
export async function rollback(ctx: CommandContext, arg: string): Promise<RollbackResult> {
  const ref = parseServiceRef(arg, Object.keys((await ctx.loadCluster()).services), {
    versionOptional: true,
  });
  const config = await ctx.loadConfig();
  const apis = await connectToCluster(config);
  let lock: HeldLock | undefined;
  try {
    const versions = await apis.nomad.jobVersions(ref.service).catch(() => []);
    const current = versions.reduce<NomadJob | undefined>(
      (a, j) => ((j.Version ?? 0) > (a?.Version ?? -1) ? j : a),
      undefined,
    );
    if (!current)
      throw new UsageError(
        `${ref.service} has never been deployed on target ${config.targetName}`,
        `deploy it first: elm-infra deploy ${ref.service}@<version>`,
      );
    const target = chooseRollbackTarget(versions, ref.version);
    const from = current.Meta?.version ?? null;
    if (!target) {
      const known = [...new Set(versions.map((v) => v.Meta?.version).filter(Boolean))].join(", ");
      throw new UsageError(
        ref.version
          ? `no earlier job version of ${ref.service} ran ${ref.version}`
          : `${ref.service} has no earlier stable version to go back to`,
        `versions Nomad still knows: ${known || "none"}`,
      );
    }
    const to = target.Meta?.version ?? `job version ${target.Version}`;
    ctx.output.info(`${ref.service}: ${from ?? "?"} → ${to} (job version ${target.Version})`);
    if (ctx.options.dryRun)
      return { service: ref.service, from, to, jobVersion: null, outcome: "planned" };
    await ctx.confirm(
      `roll ${ref.service} back from ${from} to ${to} on target ${config.targetName}`,
    );

    const state: RolloutState = {
      config,
      ref: { service: ref.service, version: to },
      apis,
      job: target,
    };
    await runSteps<RolloutState>(
      [
        {
          title: "Take the cluster-wide deploy lock",
          run: async () =>
            void (lock = await acquireLock(
              apis.consul,
              deployLockKey,
              lockHolder(`rollback ${ref.service}`),
            )),
        },
        {
          title: `Revert ${ref.service} to job version ${target.Version}`,
          async run(s) {
            await apis.nomad.revertJob(ref.service, target.Version!, current.Version);
            s.jobVersion = (current.Version ?? 0) + 1;
          },
        },
      ],
      state,
      { output: ctx.output, signal: ctx.signal },
    );
    try {
      await runSteps(rolloutSteps(), state, { output: ctx.output, signal: ctx.signal });
    } catch (error) {
      await runSteps(revertSteps(from ?? undefined), state, {
        output: ctx.output,
        signal: new AbortController().signal,
      }).catch(() => undefined);
      throw new OperationError(
        `rollback of ${ref.service} to ${to} failed: ${(error as Error).message}`,
      );
    }
    return {
      service: ref.service,
      from,
      to,
      jobVersion: state.jobVersion ?? null,
      outcome: "rolled-back",
    };
  } finally {
    await lock?.release().catch(() => undefined);
    await apis.close();
  }
}
