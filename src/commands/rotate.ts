import { withOperationsLock } from "../cluster/operations-lock.js";
import { managersOf, requireInventory, workersOf } from "../cluster/inventory.js";
import { secretEnv, secretsPath } from "../config/load.js";
import { UsageError } from "../errors.js";
import {
  describeRotation,
  planRotation,
  rotatedSecretFields,
  type RotatedField,
} from "../plan/rotation.js";
import { type CommandContext, lockWaitOf } from "../tasks/context.js";
import { proveClusterHealthy } from "../tasks/bring-up.js";
import {
  rotateConsulAgentToken,
  rotateGossipKey,
  rotateNomadConsulToken,
  rotateTraefikToken,
  type RotationRun,
} from "../tasks/rotate.js";
import { runSteps } from "../tasks/runner.js";
import { judgeClusterNow, newHostChangeRun } from "../tasks/scale.js";
import type { ClusterView } from "../tasks/verify.js";

export interface RotateResult {
  target: string;
  /** planned: --dry-run; rotated: every secret renewed and the old ones refused. */
  outcome: "planned" | "rotated";
  /** The dry run's listing (the plan, step by step). */
  plan: string[];
  rotated: Array<{ field: RotatedField; detail: string }>;
  /** Agents restarted, in order ("<host>: nomad"). */
  restarted: string[];
  cluster?: ClusterView | undefined;
}

/**
 * `rotate`: new gossip keys and new Consul tokens for the agents, Traefik and Nomad, each
 * accepted by the cluster before the old one is removed, under the operations lock; a cluster
 * that is not healthy now is refused (exit 3) before anything changes.
 */
export async function rotate(ctx: CommandContext): Promise<RotateResult> {
  const config = await ctx.loadConfig();
  refuseSecretsFromEnvironment(process.env);
  const inventory = await requireInventory(config);
  const plan = describeRotation(
    planRotation(
      {
        managers: managersOf(inventory).map((h) => h.name),
        workers: workersOf(inventory).map((h) => h.name),
      },
      secretsPath(config.root, config.targetName),
    ),
  );
  const result = (outcome: RotateResult["outcome"], run?: RotationRun): RotateResult => ({
    target: config.targetName,
    outcome,
    plan,
    rotated: run?.rotated ?? [],
    restarted: run?.restarted ?? [],
    cluster: run?.view,
  });
  if (ctx.options.dryRun) return result("planned");
  const run: RotationRun = { ...newHostChangeRun(config), rotated: [], restarted: [] };
  const steps = { output: ctx.output, signal: ctx.signal };
  return withOperationsLock(
    config,
    "rotate",
    { onLost: (m) => ctx.output.warn(m), ...lockWaitOf(ctx) },
    async () => {
      await runSteps([judgeClusterNow("rotate")], run, steps);
      await ctx.confirm(
        `rotate the gossip keys and the agents', Traefik's and Nomad's Consul tokens of target ${config.targetName} (Nomad restarts one host at a time)`,
      );
      await runSteps(
        [
          rotateGossipKey("consul"),
          rotateGossipKey("nomad"),
          rotateConsulAgentToken(),
          rotateTraefikToken(),
          rotateNomadConsulToken(),
          proveClusterHealthy({ requireIngress: true }),
        ],
        run,
        steps,
      );
      return result("rotated", run);
    },
  );
}

/**
 * A secret the environment supplies wins over the file: rotate writes only the file, so the next
 * command would use the old value from the environment. Refused before any change.
 */
function refuseSecretsFromEnvironment(env: NodeJS.ProcessEnv): void {
  const set = rotatedSecretFields.flatMap((field) =>
    secretEnv[field].filter((name) => env[name]).map((name) => `${name} (${field})`),
  );
  if (set.length > 0)
    throw new UsageError(
      `rotate writes the new values to the secrets file, but the environment sets ${set.join(", ")}, which would win over it`,
      "unset those variables and run rotate again",
    );
}

export function formatRotate(r: RotateResult, format: (v: ClusterView) => string): string {
  if (r.outcome === "planned")
    return [
      `rotation plan for target ${r.target} (dry run, nothing changed):`,
      ...r.plan.map((l) => `  ${l}`),
    ].join("\n");
  const lines = [
    `target ${r.target}: secrets rotated`,
    ...r.rotated.map((x) => `  ${x.field}: ${x.detail}`),
    `  restarted: ${r.restarted.join(", ") || "none"}`,
  ];
  return r.cluster ? `${lines.join("\n")}\n${format(r.cluster)}` : lines.join("\n");
}
