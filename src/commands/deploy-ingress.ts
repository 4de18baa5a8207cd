import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import { consulLock, deployLockKey, lockHolder } from "../consul/lock.js";
import { withLock } from "../lock.js";
import { ConfigError } from "../errors.js";
import { renderIngressJob } from "../plan/jobs.js";
import { ingressJobName } from "../plan/job-vars.js";
import { buildsPlatformImages } from "../plan/registry.js";
import { versionsByWorker } from "../plan/ingress.js";
import { withCluster } from "../cluster/connect.js";
import { readInventory, workersOf } from "../cluster/inventory.js";
import type { CommandContext } from "../tasks/context.js";
import {
  ensureIngressToken,
  forgetSharedIngressToken,
  rollIngress,
  pushTraefikImage,
  type IngressResult,
} from "../tasks/ingress.js";
import { deployLockRelease } from "../tasks/rollout.js";
import { runSteps } from "../tasks/runner.js";

export interface IngressDeployResult {
  version: string;
  outcome: "deployed" | "unchanged" | "planned";
  /** The version each worker ran before. */
  previous: Record<string, string>;
  steps: string[];
  text: string;
}

/**
 * `deploy ingress@<version>`: Traefik on every worker, one worker at a time, each proven (its
 * ping, API and routes answer) before the next; a worker that fails gets its previous version back
 * and the rollout stops. The load balancer takes each worker out while its Traefik drains.
 */
export async function deployIngressCommand(
  ctx: CommandContext,
  arg: string,
): Promise<IngressDeployResult> {
  const { version } = requireVersion(parseServiceRef(arg, [ingressJobName]));
  const config = await ctx.loadConfig();
  const inventory = await readInventory(config);
  if (!inventory || workersOf(inventory).length === 0) {
    throw new ConfigError(
      [
        {
          file: config.file,
          path: `targets.${config.targetName}`,
          message: "has no workers recorded",
        },
      ],
      `bring the target up first: elm-infra bring-up --target ${config.targetName}`,
    );
  }
  return withCluster(config, { signal: ctx.signal }, async (apis) => {
    const current = await apis.nomad.readJob(ingressJobName);
    const previous = versionsByWorker(current as never);
    const desired = await apis.nomad.parseJob(
      await renderIngressJob(
        config,
        workersOf(inventory).map((w) => ({ name: w.name, version })),
      ),
    );
    const plan = await apis.nomad.planJob(desired);
    const was =
      Object.entries(previous)
        .map(([w, v]) => `${w} ${v}`)
        .join(", ") || "not deployed";
    if (current && plan.Diff?.Type === "None")
      return {
        version,
        outcome: "unchanged",
        previous,
        steps: [],
        text: `ingress@${version} is already deployed on every worker; nothing changed`,
      };
    if (ctx.options.dryRun)
      return {
        version,
        outcome: "planned",
        previous,
        steps: [],
        text: `would roll ingress to ${version}, one worker at a time (now: ${was}); dry run, nothing changed`,
      };
    await ctx.confirm(
      `roll Traefik to ${version} on every worker of ${config.targetName}, one at a time (now: ${was})`,
    );
    const lock = consulLock(apis.consul, deployLockKey, lockHolder(`deploy ingress@${version}`));
    const state: { result?: IngressResult } = {};
    await withLock(
      lock,
      async () => {
        await runSteps(
          [
            {
              title: `Push traefik:v${version} to the registry`,
              skip: () =>
                buildsPlatformImages(config.target) ? false : "the workers pull the official image",
              run: (_s, step) => pushTraefikImage(config, version, (l) => step.log(l)),
            },
            {
              title: "Traefik's Consul token (Nomad variable)",
              run: async (_s, step) => {
                const token = config.secrets.consulTraefikToken;
                if (!token)
                  throw new ConfigError(
                    [
                      {
                        file: `secrets/${config.targetName}.yaml`,
                        path: "consulTraefikToken",
                        message: "is missing",
                      },
                    ],
                    "run bring-up: it generates the cluster's tokens",
                  );
                const workers = workersOf(inventory).map((w) => w.name);
                const written = await ensureIngressToken(apis.nomad, token, workers);
                if (written.length > 0) step.log(`written for ${written.join(", ")}`);
              },
            },
            {
              title: `Roll ingress to ${version}, one worker at a time`,
              run: async (s, step) => {
                s.result = await rollIngress({
                  config,
                  inventory,
                  nomad: apis.nomad,
                  version,
                  log: (l) => step.log(l),
                  signal: step.signal,
                });
                // Every worker's Traefik reads its own token variable now.
                if (await forgetSharedIngressToken(apis.nomad))
                  step.log("the shared token variable nomad/jobs/ingress deleted");
              },
            },
          ],
          state,
          { output: ctx.output, signal: ctx.signal },
        );
      },
      deployLockRelease(ctx.output),
    );
    const steps = state.result?.steps ?? [];
    return {
      version,
      outcome: "deployed",
      previous,
      steps,
      text: `ingress@${version} deployed (was ${was}):\n${steps.map((s) => `  ${s}`).join("\n")}`,
    };
  });
}
