import { withOperationsLock } from "../cluster/operations-lock.js";
import { withCluster } from "../cluster/connect.js";
import { readInventory, requireInventory } from "../cluster/inventory.js";
import { OperationError, UsageError } from "../errors.js";
import { isHostServer } from "../plan/retire.js";
import { planUpgrade, type RebootPlan } from "../plan/reboot.js";
import {
  deployIngress,
  generateSecrets,
  pinnedVersions,
  proveClusterHealthy,
  proveServices,
  runSite,
  setUpRegistry,
  spreadServices,
} from "../tasks/bring-up.js";
import { type CommandContext, lockWaitOf } from "../tasks/context.js";
import { agentsAction, cycleManager, cycleWorker, type HostCycled } from "../tasks/host-cycle.js";
import { pushTraefikImage } from "../tasks/ingress.js";
import { describeMove } from "../tasks/package-data.js";
import { needed, runSteps, type Step } from "../tasks/runner.js";
import { judgeClusterNow, newHostChangeRun, type HostChangeRun } from "../tasks/scale.js";
import type { ClusterView } from "../tasks/verify.js";

export interface UpgradeFlags {
  /** The Traefik version to roll to; default the pinned one (src/tools/versions.json). */
  traefik?: string;
  allowApiOutage: boolean;
}

export interface AgentVersions {
  nomad: string | null;
  consul: string | null;
  traefik: string | null;
}

export interface UpgradeResult {
  target: string;
  /** planned: --dry-run; upgraded: every host cycled and the ingress rolled. */
  outcome: "planned" | "upgraded";
  plan: RebootPlan;
  /** What ran before, what was asked for, and what runs now (status's view). */
  versions: { before: AgentVersions; wanted: AgentVersions; after: AgentVersions | null };
  /** Each host, in order: its agents' pids before and after. */
  cycled: HostCycled[];
  /** The ingress rollout's steps ("<worker>: 3.6.12 → 3.6.13"); none when its version stayed. */
  ingress: string[];
  respread: string[];
  cluster: ClusterView | null;
}

interface UpgradeRun extends HostChangeRun {
  cycled: HostCycled[];
}

const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/**
 * `upgrade [--traefik <version>]`: the pinned Nomad and Consul (src/tools/versions.json) and the
 * given or pinned Traefik rolled across the cluster without a failed request on elm-lang.org.
 * One host at a time, the servers first (followers, then the leader after handing over its
 * leadership), then the workers, each drained first as `reboot` does; on each, Ansible's install
 * tasks alone (an agent whose package changed restarts there), and every agent not restarted by
 * them restarted, so unchanged versions make it a rolling restart. Then Traefik through the
 * ingress rollout. A failed host stops the rollout and says how to go on or back.
 */
export async function upgrade(ctx: CommandContext, flags: UpgradeFlags): Promise<UpgradeResult> {
  if (flags.traefik !== undefined && !VERSION.test(flags.traefik))
    throw new UsageError(
      `--traefik ${JSON.stringify(flags.traefik)} is not a version`,
      "give one like 3.6.13 (without a leading v)",
    );
  const config = await ctx.loadConfig();
  await requireInventory(config);
  const pinned = await pinnedVersions();
  const wanted: AgentVersions = {
    nomad: pinned.nomad,
    consul: pinned.consul,
    traefik: flags.traefik ?? pinned.traefik,
  };
  const run: UpgradeRun = { ...newHostChangeRun(config), cycled: [] };
  const steps = { output: ctx.output, signal: ctx.signal };
  return withOperationsLock(
    config,
    "upgrade",
    { onLost: (m) => ctx.output.warn(m), ...lockWaitOf(ctx) },
    async () => {
      await runSteps([judgeClusterNow("upgrade")], run, steps);
      const before = { ...needed(run, "view", "upgrade").versions };
      const now = needed(run, "inventory", "upgrade");
      const plan = await withCluster(config, { signal: ctx.signal }, async (apis) =>
        planUpgrade({
          target: config.targetName,
          hosts: now.hosts.map((h) => ({ name: h.name, role: h.role, needsReboot: false })),
          allowApiOutage: flags.allowApiOutage,
          leaders: [
            ...(await apis.nomad.raftConfiguration()).Servers,
            ...(await apis.consul.raftConfiguration()).Servers,
          ]
            .filter((s) => s.Leader)
            .flatMap((s) => now.hosts.filter((h) => isHostServer(s, h)).map((h) => h.name)),
          dataHolder: now.packageDataHost,
        }),
      );
      const line = describeUpgrade(before, wanted, plan);
      ctx.output.info(`plan: ${line}`);
      if (plan.apiOutage)
        ctx.output.warn(
          "the only manager's agents restart: Nomad's and Consul's APIs stop meanwhile; the sites keep serving from the workers",
        );
      const result = (outcome: UpgradeResult["outcome"]): UpgradeResult => ({
        target: config.targetName,
        outcome,
        plan,
        versions: {
          before,
          wanted,
          after: outcome === "planned" ? null : (run.view?.versions ?? null),
        },
        cycled: run.cycled,
        // Each worker cycled came back at the new Traefik (the rollout after has the rest).
        ingress: [
          ...(before.traefik !== wanted.traefik
            ? run.cycled
                .filter((h) => h.role === "worker")
                .map((h) => `${h.host}: ${before.traefik ?? "?"} → ${wanted.traefik}`)
            : []),
          ...(run.ingress?.changed ? run.ingress.steps : []),
        ],
        respread: run.respread ?? [],
        cluster: outcome === "planned" ? null : (run.view ?? null),
      });
      if (ctx.options.dryRun) return result("planned");
      await ctx.confirm(`upgrade target ${config.targetName}: ${line}`);
      await runSteps(
        [
          generateSecrets(),
          setUpRegistry(),
          // The image first: a version this machine cannot push stops the upgrade before any host.
          pushTraefik(wanted.traefik!),
          ...plan.order.map((s) => cycleStep(s.host, s.role, flags, plan, wanted.traefik!)),
          deployIngress(wanted.traefik!),
          spreadServices(),
          proveClusterHealthy({ requireIngress: true }),
          proveServices(),
        ],
        run,
        steps,
      );
      return result("upgraded");
    },
  );
}

function pushTraefik(version: string): Step<UpgradeRun> {
  return {
    title: `Traefik ${version}'s image in the target's registry`,
    run: (run, step) => pushTraefikImage(run.config, version, (l) => step.log(l)),
  };
}

/** One host out of service, its agents upgraded and restarted, back and proven. */
function cycleStep(
  host: string,
  role: "manager" | "worker",
  flags: UpgradeFlags,
  plan: RebootPlan,
  ingressVersion: string,
): Step<UpgradeRun> {
  return {
    title: `Upgrade and restart the agents of ${host}`,
    needs: ["inventory", "secrets"],
    run: async (run, step) => {
      const o = {
        config: run.config,
        inventory: needed(run, "inventory", "upgrade"),
        host,
        log: (l: string) => step.log(l),
        signal: step.signal,
        apiOutageAccepted: flags.allowApiOutage,
        // Each worker's Traefik comes back at the new version: one restart each, not two.
        ingressVersion,
      };
      // Ansible's install tasks on this host alone: the pinned packages, held.
      const action = agentsAction(async (h) => {
        const changed = await runSite(run, step, { limit: h.name, tags: ["agents-install"] });
        step.log(`${h.name}: Ansible's install tasks, changed=${changed[h.name] ?? 0}`);
      });
      try {
        const done =
          role === "worker" ? await cycleWorker(o, action) : await cycleManager(o, action);
        run.cycled.push(done);
        step.log(`${host}: back in service after ${Math.round(done.durationMs / 1000)} s`);
      } catch (error) {
        const at = plan.order.findIndex((s) => s.host === host);
        const went = plan.order.slice(0, at).map((s) => s.host);
        throw new OperationError(
          `upgrade stopped at ${host}: ${(error as Error).message}`,
          `${went.length > 0 ? `${went.join(", ")} run the new agents; ` : ""}${host} and the hosts after it were not finished. Fix what the error names and run upgrade again (it goes through every host again); to go back, set the earlier versions in src/tools/versions.json and run upgrade`,
          { cause: error },
        );
      }
      run.inventory = (await readInventory(run.config)) ?? o.inventory;
    },
  };
}

export function describeUpgrade(
  before: AgentVersions,
  wanted: AgentVersions,
  plan: RebootPlan,
): string {
  const agent = (name: keyof AgentVersions, label: string) =>
    before[name] === wanted[name]
      ? `${label} ${wanted[name]} (restart)`
      : `${label} ${before[name] ?? "?"} → ${wanted[name]}`;
  return `${agent("nomad", "Nomad")}, ${agent("consul", "Consul")} on ${plan.order.map((s) => s.host).join(", then ")}; ${agent("traefik", "Traefik").replace(" (restart)", " (unchanged)")} on each worker as it comes back into the ingress`;
}

export function formatUpgrade(r: UpgradeResult, format: (v: ClusterView) => string): string {
  const plan = describeUpgrade(r.versions.before, r.versions.wanted, r.plan);
  if (r.outcome === "planned")
    return `upgrade plan for target ${r.target} (dry run, nothing changed): ${plan}`;
  const lines = r.cycled.map(
    (h) =>
      `  ${h.host}: agents restarted in ${Math.round(h.durationMs / 1000)} s${h.packageDataMoved ? `; package data moved to ${h.packageDataMoved.to} (${describeMove(h.packageDataMoved)})` : ""}`,
  );
  const v = r.versions.after;
  const head = [
    `target ${r.target} upgraded: Nomad ${v?.nomad ?? "?"}, Consul ${v?.consul ?? "?"}, Traefik ${v?.traefik ?? "?"}`,
    ...lines,
    ...(r.ingress.length > 0 ? [`  ingress: ${r.ingress.join("; ")}`] : []),
    ...(r.respread.length > 0 ? [`  spread again: ${r.respread.join("; ")}`] : []),
  ].join("\n");
  return r.cluster ? `${head}\n${format(r.cluster)}` : head;
}
