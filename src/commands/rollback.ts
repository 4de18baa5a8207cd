import { parseServiceRef } from "../config/service-ref.js";
import { UsageError } from "../errors.js";
import type { NomadJob } from "../nomad/types.js";
import {
  refuseIfDeploymentActive,
  releasingLock,
  rollOutOrRevert,
  takeDeployLockStep,
  type RolloutState,
} from "../tasks/rollout.js";
import { runSteps, StepTimings, type StepTiming } from "../tasks/runner.js";
import { withCluster } from "../cluster/connect.js";
import type { CommandContext } from "../tasks/context.js";
import { readInventory } from "../cluster/inventory.js";
import { pinnedNode, repinJob } from "../plan/package-data.js";
import { packageDataHostOf } from "../tasks/package-data.js";
import { readLedger } from "../tasks/ledger.js";
import { versionOfEntry } from "../plan/ledger.js";

export interface RollbackResult {
  service: string;
  from: string | null;
  to: string;
  jobVersion: number | null;
  outcome: "rolled-back" | "planned";
  /** Milliseconds per phase (submit, rollout) and in all (total), as the runner measured. */
  timings: Record<string, number>;
  steps: StepTiming[];
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

/**
 * `rollback <service>[@<version>]`: choose the job version to go back to → confirm → lock →
 * revert the job (only if nobody changed it meanwhile) → the same rollout as deploy: canary,
 * Traefik proof, promotion, every hostname. A failure reverts to what ran before, as deploy does.
 */
export async function rollback(ctx: CommandContext, arg: string): Promise<RollbackResult> {
  const timings = new StepTimings();
  const ref = parseServiceRef(arg, Object.keys((await ctx.loadCluster()).services), {
    versionOptional: true,
  });
  const config = await ctx.loadConfig();
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    // An unreachable or refusing Nomad is said as that: only a job Nomad does not know is
    // "never deployed".
    const versions = await apis.nomad.jobVersions(ref.service, { signal: ctx.signal });
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
    // A job version pinned to a worker that no longer holds the data (moved or restored since)
    // is registered pinned to the holder instead of reverted to as it was.
    const holder = config.services[ref.service]?.data
      ? packageDataHostOf(config, await readInventory(config), ref.service)
      : undefined;
    const repinTo =
      holder && pinnedNode(target) && pinnedNode(target) !== holder ? holder : undefined;
    const result = (outcome: RollbackResult["outcome"]): RollbackResult => ({
      service: ref.service,
      from,
      to,
      jobVersion: outcome === "planned" ? null : (state.jobVersion ?? null),
      outcome,
      timings: timings.byPhase(),
      steps: timings.steps,
    });
    const state: RolloutState = {
      config,
      ref: { service: ref.service, version: to },
      apis,
      job: target,
    };
    ctx.output.info(`${ref.service}: ${from ?? "?"} → ${to} (job version ${target.Version})`);
    if (ctx.options.dryRun) return result("planned");
    await ctx.confirm(
      `roll ${ref.service} back from ${from} to ${to} on target ${config.targetName}`,
    );

    const run = { output: ctx.output, signal: ctx.signal, timings };
    return await releasingLock(state, ctx.output, async () => {
      await runSteps<RolloutState>(
        [
          takeDeployLockStep(`rollback ${ref.service}`),
          {
            title: "Check that no deployment is under way",
            run: () => refuseIfDeploymentActive(apis, ref.service),
          },
          {
            title: repinTo
              ? `Register ${ref.service}'s job version ${target.Version} pinned to ${repinTo}, the data's holder now`
              : `Revert ${ref.service} to job version ${target.Version}`,
            async run(s) {
              if (repinTo) {
                const now = await apis.nomad.readJob(ref.service);
                await apis.nomad.registerJob(
                  repinJob({ ...target, Stop: false }, repinTo),
                  now?.JobModifyIndex ?? 0,
                );
              } else await apis.nomad.revertJob(ref.service, target.Version!, current.Version);
              s.jobVersion = (current.Version ?? 0) + 1;
            },
          },
        ],
        state,
        { ...run, phase: "submit" },
      );
      await rollOutOrRevert(state, {
        ...run,
        what: `rollback of ${ref.service} to ${to}`,
        previousVersion: from ?? undefined,
      });
      return result("rolled-back");
    });
  });
}

/**
 * `rollback <service> --entry <id>`: back to the version the ledger entry deployed (its `to`),
 * by the same path as `rollback <service>@<version>`. An entry that is not a deploy or rollback
 * of that service that succeeded is refused (exit 2) before anything changes.
 */
export async function rollbackToEntry(
  ctx: CommandContext,
  arg: string,
  id: string,
): Promise<RollbackResult> {
  const ref = parseServiceRef(arg, Object.keys((await ctx.loadCluster()).services), {
    versionOptional: true,
  });
  if (ref.version)
    throw new UsageError(
      `rollback ${arg} --entry ${id}: the entry names the version; give the service alone`,
      `elm-infra rollback ${ref.service} --entry ${id}`,
    );
  const entries = await readLedger(await ctx.loadConfig(), ctx.signal);
  const version = versionOfEntry(
    entries.find((e) => e.id === id),
    id,
    ref.service,
  );
  ctx.output.info(`ledger entry ${id}: ${ref.service}@${version}`);
  return rollback(ctx, `${ref.service}@${version}`);
}
