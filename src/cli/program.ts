import { Command, InvalidArgumentError, Option } from "commander";
import { UsageError, type ElmInfraError } from "../errors.js";
import type { CommandContext, GlobalOptions } from "../tasks/context.js";

// Each verb's module is imported when that verb runs, never before: `--help`, `render` and a
// usage error do not load the Docker, SSH and HTTP clients that deploy and status need.
const commandModules = {
  deploy: () => import("../commands/deploy.js"),
  image: () => import("../commands/image.js"),
  render: () => import("../commands/render.js"),
  rollback: () => import("../commands/rollback.js"),
  status: () => import("../commands/status.js"),
  probe: () => import("../commands/probe.js"),
  "bring-up": () => import("../commands/bring-up.js"),
  destroy: () => import("../commands/destroy.js"),
  "deploy-ingress": () => import("../commands/deploy-ingress.js"),
  verify: () => import("../tasks/verify.js"),
  backup: () => import("../commands/backup.js"),
  restore: () => import("../commands/restore.js"),
  scale: () => import("../commands/scale.js"),
  replace: () => import("../commands/replace.js"),
  reboot: () => import("../commands/reboot.js"),
  upgrade: () => import("../commands/upgrade.js"),
  rotate: () => import("../commands/rotate.js"),
  prune: () => import("../commands/prune.js"),
  logs: () => import("../commands/logs.js"),
  exec: () => import("../commands/exec.js"),
  history: () => import("../commands/history.js"),
};

/** A command's result: data for --json, text for people. */
export interface CommandResult {
  data: unknown;
  text: string;
  /** Printed after the result: the command's verdict was a failure (its exit code). */
  failure?: ElmInfraError | undefined;
}
export type Action = (ctx: CommandContext) => Promise<CommandResult | undefined>;
/** Called by each command's action with the work to run; main.ts supplies the context and exits. */
export type Runner = (name: string, options: GlobalOptions, action: Action) => Promise<void>;

/** Each command's examples: shown in its --help, and the first one after a usage error. */
const EXAMPLES = {
  "bring-up": [
    "elm-infra bring-up --target local --yes",
    "elm-infra bring-up --target production --dry-run",
    "elm-infra bring-up --target local --yes --json",
  ],
  deploy: [
    "elm-infra deploy elm-lang.org@1.4.2 --yes",
    "elm-infra deploy package.elm-lang.org@2.0.1 --dry-run",
    "elm-infra deploy elm-lang.org@1.4.3 --build --context ../elm-lang.org/_site --yes",
    "elm-infra deploy ingress@3.6.12 --yes",
  ],
  scale: [
    "elm-infra scale --workers 3 --yes",
    "elm-infra scale --managers 3 --dry-run",
    "elm-infra scale --managers 1 --workers 2 --yes --json",
  ],
  replace: [
    "elm-infra replace production-worker-2 --yes",
    "elm-infra replace production-manager-1 --dry-run",
  ],
  reboot: [
    "elm-infra reboot --dry-run",
    "elm-infra reboot --yes",
    "elm-infra reboot production-worker-2 --yes",
    "elm-infra reboot --all --yes --json",
    "elm-infra reboot --all --allow-api-outage --target local --yes",
    "elm-infra reboot --all --upgrade-packages --yes",
  ],
  upgrade: [
    "elm-infra upgrade --dry-run",
    "elm-infra upgrade --yes",
    "elm-infra upgrade --traefik 3.6.13 --yes --json",
    "elm-infra upgrade --allow-api-outage --target local --yes",
  ],
  rotate: [
    "elm-infra rotate --target production --dry-run",
    "elm-infra rotate --target production --yes",
    "elm-infra rotate --yes --json",
  ],
  rollback: [
    "elm-infra rollback elm-lang.org --yes",
    "elm-infra rollback elm-lang.org@1.4.1 --yes",
    "elm-infra rollback elm-lang.org --entry 20261206T101500123Z-3fa2 --yes",
  ],
  history: [
    "elm-infra history",
    "elm-infra history elm-lang.org --limit 5",
    "elm-infra history --json",
  ],
  status: [
    "elm-infra status",
    "elm-infra status elm-lang.org --json",
    "elm-infra status --check && echo healthy",
  ],
  probe: [
    "elm-infra probe elm-lang.org --seconds 30",
    "npm run probe -- package.elm-lang.org --seconds 600 --rate 50 --path /health",
    "elm-infra probe elm-lang.org --seconds 10 --json | tail -n 1",
  ],
  logs: [
    "elm-infra logs elm-lang.org -f",
    "elm-infra logs package.elm-lang.org --stderr --since 10m",
    "elm-infra logs elm-lang.org --alloc 3f2a9c1e -f --json",
  ],
  exec: [
    "elm-infra exec elm-lang.org -- sh",
    "elm-infra exec package.elm-lang.org --alloc 3f2a9c1e -- ls -l /data",
    "elm-infra exec elm-lang.org -- sh -c 'exit 7'; echo $?",
  ],
  destroy: [
    "elm-infra destroy --target local --yes",
    "elm-infra destroy --target production --dry-run",
  ],
  render: [
    "elm-infra render elm-lang.org@1.4.2",
    "elm-infra render package.elm-lang.org@2.0.1 --json",
  ],
  image: [
    "elm-infra image elm-lang.org@1.4.2 --context ../elm-lang.org/_site --yes",
    "elm-infra image package.elm-lang.org@2.0.1 --context ./build --no-push",
  ],
  prune: [
    "elm-infra prune elm-lang.org --dry-run",
    "elm-infra prune package.elm-lang.org --keep 5 --yes",
  ],
  backup: [
    "elm-infra backup package.elm-lang.org",
    "elm-infra backup package.elm-lang.org --target production --json",
    "elm-infra backup cluster --target production",
  ],
  restore: [
    "elm-infra restore package.elm-lang.org --yes",
    "elm-infra restore package.elm-lang.org .elm-infra/local/backups/package.elm-lang.org-20260101T120000Z.tar.gz --yes",
    "elm-infra restore package.elm-lang.org --to local-worker-2 --yes",
    "elm-infra restore package.elm-lang.org --from-store --target production --yes",
    "elm-infra restore package.elm-lang.org --from-store package.elm-lang.org-20260101T120000Z.tar.gz --dry-run",
  ],
} satisfies Record<string, string[]>;

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;

export function buildProgram(run: Runner): Command {
  const program = new Command("elm-infra")
    .description("Run elm-lang.org and package.elm-lang.org on a Nomad/Consul/Traefik cluster.")
    .addOption(
      new Option("-t, --target <name>", "target from cluster.yaml").env("ELM_INFRA_TARGET"),
    )
    .addOption(new Option("-c, --config <file>", "path to cluster.yaml").env("ELM_INFRA_CONFIG"))
    .option("-y, --yes", "do not ask before changing anything", false)
    .option("-n, --dry-run", "show the plan and stop before any change", false)
    .option("--json", "print JSON lines (one event per line, results last)", false)
    .option("-v, --verbose", "print debug detail", false)
    .option(
      "--lock-wait <duration>",
      "wait up to this long (30s, 5m, 1h) for the operations lock instead of refusing",
      parseLockWait,
    )
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      "after",
      examples([
        "npm run bring-up -- --target local --yes",
        "npm run deploy -- elm-lang.org@1.4.2 --target production",
        "npm run status -- --json",
        "elm-infra render package.elm-lang.org@2.0.1",
      ]) +
        "\nExit codes: 0 success, 1 operation failed, 2 usage or configuration error,\n" +
        "3 refused (conflict or lock held), 4 not implemented yet, 130 interrupted,\n" +
        "143 terminated (SIGTERM; cleaned up as for Ctrl-C).\n",
    );

  // An exported but empty ELM_INFRA_TARGET or ELM_INFRA_CONFIG means "not set" (defaultTarget,
  // ./cluster.yaml); an empty --target or --config typed on the command line is refused later.
  const globals = (cmd: Command): GlobalOptions => {
    const options = cmd.optsWithGlobals() as GlobalOptions;
    for (const key of ["target", "config"] as const)
      if (options[key] === "" && program.getOptionValueSource(key) === "env") delete options[key];
    return { ...options, operands: [...cmd.args] };
  };

  program
    .command("bring-up")
    .description(
      "create the VMs (OpenTofu), bootstrap them (Ansible), verify, deploy the ingress; safe to run again",
    )
    .addHelpText("after", examples(EXAMPLES["bring-up"]))
    .action((_o, cmd: Command) =>
      run("bring-up", globals(cmd), async (ctx) => {
        const { bringUp, formatBringUp } = await commandModules["bring-up"]();
        const { formatClusterView } = await commandModules.verify();
        const r = await bringUp(ctx);
        return { data: r, text: formatBringUp(r, formatClusterView) };
      }),
    );

  program
    .command("deploy")
    .description("deploy <service>@<version>: render, plan, submit, watch, prove through Traefik")
    .argument("<service@version>", "service and image tag, e.g. elm-lang.org@1.4.2")
    .option(
      "--build",
      "build the image and push it to the target's registry first (needs --context)",
      false,
    )
    .option("--context <dir>", "with --build: the site's build output")
    .addHelpText("after", examples(EXAMPLES["deploy"]))
    .action((arg: string, _o, cmd: Command) => {
      const ingress = /^ingress(@|$)/.test(arg);
      if (ingress) refuseOptions(cmd, ["build", "context"], "deploy ingress builds no image");
      else refuseWithout(cmd, ["context"], "build");
      return run("deploy", globals(cmd), async (ctx) => {
        if (ingress) {
          const { deployIngressCommand } = await commandModules["deploy-ingress"]();
          const r = await deployIngressCommand(ctx, arg);
          return { data: r, text: r.text };
        }
        const o = cmd.opts<{ build: boolean; context?: string }>();
        if (o.build) {
          const { buildImage } = await commandModules.image();
          await buildImage(ctx, arg, { context: o.context, push: true });
        }
        const { deploy } = await commandModules.deploy();
        const r = await deploy(ctx, arg);
        const secs = (ms: number | undefined) => `${((ms ?? 0) / 1000).toFixed(1)}s`;
        const text =
          r.outcome === "deployed"
            ? `${r.service}@${r.version} deployed (was ${r.previousVersion ?? "not deployed"}), job version ${r.jobVersion}: plan ${secs(r.timings.plan)}, submit ${secs(r.timings.submit)}, rollout ${secs(r.timings.rollout)}, total ${secs(r.timings.total)}`
            : r.outcome === "unchanged"
              ? `${r.service}@${r.version} is already deployed; nothing changed`
              : `plan for ${r.service}@${r.version} (dry run, nothing changed):\n${(r.plan?.lines ?? []).map((l) => `  ${l}`).join("\n")}`;
        return { data: r, text };
      });
    });

  program
    .command("scale")
    .description(
      "add or remove managers and workers: new hosts first, then one host at a time leaves (drained, out of raft) and is destroyed; records the counts in cluster.yaml",
    )
    .option("--managers <n>", "number of managers (odd: 1, 3, 5 or 7)", (v) =>
      parseCount(v, "--managers"),
    )
    .option("--workers <n>", "number of workers (1 or more)", (v) => parseCount(v, "--workers"))
    .addHelpText(
      "after",
      examples(EXAMPLES["scale"]) +
        "\nRefused before any change: an even or zero manager count (exit 2), a cluster that is not\n" +
        "healthy now (exit 3, naming what is degraded). --dry-run shows the hosts created and removed.\n",
    )
    .action((_o, cmd: Command) =>
      run("scale", globals(cmd), async (ctx) => {
        const o = cmd.opts<{ managers?: number; workers?: number }>();
        const { scale, formatScale } = await commandModules.scale();
        const { formatClusterView } = await commandModules.verify();
        const r = await scale(ctx, {
          ...(o.managers !== undefined ? { managers: o.managers } : {}),
          ...(o.workers !== undefined ? { workers: o.workers } : {}),
        });
        return { data: r, text: formatScale(r, formatClusterView) };
      }),
    );

  program
    .command("rotate")
    .description(
      "new gossip keys (Consul, Nomad) and new Consul tokens for the agents, Traefik and Nomad: each accepted everywhere before the old one is removed, without a failed request",
    )
    .addHelpText(
      "after",
      examples(EXAMPLES["rotate"]) +
        "\nNo agent restarts but Nomad, one host at a time: it reads its Consul token only at start.\n" +
        "Traefik restarts one worker at a time, out of the load balancer first. The new values go to\n" +
        "secrets/<target>.yaml and the agents' configuration files. Not rotated: consulToken and\n" +
        "nomadToken (your management tokens), and the ACME issuer's (a Nomad workload identity).\n" +
        "Refused before any change: a cluster that is not healthy now (exit 3), a rotated secret\n" +
        "set in the environment (exit 2). Interrupted, the cluster keeps working; run it again.\n",
    )
    .action((_o, cmd: Command) =>
      run("rotate", globals(cmd), async (ctx) => {
        const { rotate, formatRotate } = await commandModules.rotate();
        const { formatClusterView } = await commandModules.verify();
        const r = await rotate(ctx);
        return { data: r, text: formatRotate(r, formatClusterView) };
      }),
    );

  program
    .command("replace")
    .description(
      "replace a host with a new one of the same role (a new number): the new host joins first, then the old one leaves as in scale and is destroyed",
    )
    .argument("<host>", "the host's name, as status lists it (e.g. production-worker-2)")
    .addHelpText("after", examples(EXAMPLES["replace"]))
    .action((host: string, _o, cmd: Command) =>
      run("replace", globals(cmd), async (ctx) => {
        const { replace, formatReplace } = await commandModules.replace();
        const { formatClusterView } = await commandModules.verify();
        const r = await replace(ctx, host);
        return { data: r, text: formatReplace(r, formatClusterView) };
      }),
    );

  program
    .command("reboot")
    .description(
      "reboot hosts one at a time, each drained and proven before the next: the ones that ask for it (/run/reboot-required), the ones named, or --all",
    )
    .argument("[hosts...]", "hosts to reboot, as status lists them (e.g. production-worker-2)")
    .option("--all", "reboot every host", false)
    .option(
      "--allow-api-outage",
      "with a single manager: reboot it too (Nomad's and Consul's APIs stop meanwhile; the sites keep serving)",
      false,
    )
    .option(
      "--upgrade-packages",
      "apply Debian's security upgrades (unattended-upgrade) on each host before its reboot, never Consul, Nomad or Docker",
      false,
    )
    .addHelpText(
      "after",
      examples(EXAMPLES["reboot"]) +
        "\nOrder: workers first (each out of the load balancer, its package data moved off it, drained,\n" +
        "rebooted, back in and proven), then the managers, the leader last after handing its\n" +
        "leadership over. Refused: a cluster that is not healthy now (exit 3), a manager whose\n" +
        "reboot would lose quorum (exit 3), the only manager without --allow-api-outage (exit 2).\n" +
        "--upgrade-packages: on each host, once it is out of service, `apt-get update` and\n" +
        "`unattended-upgrade` (Debian's security archive only); the result names each package\n" +
        "changed (from -> to). A host whose upgrades fail is not rebooted: the rollout stops there\n" +
        "(exit 1) with apt's last lines, and a worker is put back in service first.\n",
    )
    .action((hosts: string[], _o, cmd: Command) =>
      run("reboot", globals(cmd), async (ctx) => {
        const o = cmd.opts<{ all: boolean; allowApiOutage: boolean; upgradePackages: boolean }>();
        const { reboot, formatReboot } = await commandModules.reboot();
        const { formatClusterView } = await commandModules.verify();
        const r = await reboot(ctx, hosts, {
          all: o.all,
          allowApiOutage: o.allowApiOutage,
          upgradePackages: o.upgradePackages,
        });
        return { data: r, text: formatReboot(r, formatClusterView) };
      }),
    );

  program
    .command("upgrade")
    .description(
      "roll the pinned Nomad and Consul (src/tools/versions.json) and Traefik across the cluster, one host at a time, each drained and proven; unchanged versions: a rolling restart",
    )
    .option("--traefik <version>", "the Traefik version to roll to (default: the pinned one)")
    .option(
      "--allow-api-outage",
      "with a single manager: restart its agents too (Nomad's and Consul's APIs stop meanwhile; the sites keep serving)",
      false,
    )
    .addHelpText(
      "after",
      examples(EXAMPLES["upgrade"]) +
        "\nOrder: the managers (followers, then the leader after handing over its leadership), each\n" +
        "back in raft with autopilot healthy before the next; then the workers, each out of the load\n" +
        "balancer, its package data moved off it, drained, upgraded, back at the new Traefik and\n" +
        "proven (its Traefik restarts once). On each host Ansible's install tasks put the pinned packages;\n" +
        "every agent they did not restart is restarted. To upgrade Nomad or Consul, change their\n" +
        "version in src/tools/versions.json and run `npm run tools` first (it builds the local\n" +
        "target's apt repository). A Traefik version needs its image on this machine:\n" +
        "bash src/tools/install.sh --tool traefik@<version> && bash images/base/build.sh traefik <version>.\n" +
        "Refused: a cluster that is not healthy now (exit 3), the only manager without\n" +
        "--allow-api-outage (exit 2). A failed host stops the rollout and says how to go on or back.\n",
    )
    .action((_o, cmd: Command) =>
      run("upgrade", globals(cmd), async (ctx) => {
        const o = cmd.opts<{ traefik?: string; allowApiOutage: boolean }>();
        const { upgrade, formatUpgrade } = await commandModules.upgrade();
        const { formatClusterView } = await commandModules.verify();
        const r = await upgrade(ctx, {
          ...(o.traefik !== undefined ? { traefik: o.traefik } : {}),
          allowApiOutage: o.allowApiOutage,
        });
        return { data: r, text: formatUpgrade(r, formatClusterView) };
      }),
    );

  program
    .command("rollback")
    .description("go back to the previous stable version, or to the one that ran <version>")
    .argument("<service[@version]>", "service, optionally with the version to return to")
    .option("--entry <id>", "the version a ledger entry (elm-infra history) deployed")
    .addHelpText("after", examples(EXAMPLES["rollback"]))
    .action((arg: string, _o, cmd: Command) =>
      run("rollback", globals(cmd), async (ctx) => {
        const { rollback, rollbackToEntry } = await commandModules.rollback();
        const { entry } = cmd.opts<{ entry?: string }>();
        const r = entry ? await rollbackToEntry(ctx, arg, entry) : await rollback(ctx, arg);
        const text =
          r.outcome === "planned"
            ? `would roll ${r.service} back from ${r.from} to ${r.to} (dry run)`
            : `${r.service} rolled back from ${r.from} to ${r.to}`;
        return { data: r, text };
      }),
    );

  program
    .command("history")
    .description(
      "the target's release ledger, newest first: who deployed, rolled back, scaled or upgraded what, when, from which commit, and how it ended",
    )
    .argument("[service]", "one service only")
    .option("--limit <n>", "at most this many entries", (v) => parseLimit(v))
    .addHelpText("after", examples(EXAMPLES["history"]))
    .action((service: string | undefined, _o, cmd: Command) =>
      run("history", globals(cmd), async (ctx) => {
        const { history } = await commandModules.history();
        const r = await history(ctx, service, cmd.opts<{ limit?: number }>().limit);
        return { data: r.entries, text: r.text };
      }),
    );

  program
    .command("status")
    .description("running version, deployment, allocations and Traefik health per service")
    .argument("[service]", "one service only")
    .option(
      "--check",
      "exit 1 while anything is degraded (a node down, an allocation unhealthy or missing, a raft peer missing, a Consul member failed), naming each",
      false,
    )
    .addHelpText("after", examples(EXAMPLES["status"]))
    .action((service: string | undefined, _o, cmd: Command) =>
      run("status", globals(cmd), async (ctx) => {
        const { formatStatus, status, statusFailure } = await commandModules.status();
        const data = await status(ctx, service, { check: cmd.opts<{ check: boolean }>().check });
        return { data, text: formatStatus(data), failure: statusFailure(data) };
      }),
    );

  program
    .command("probe")
    .description(
      "send a steady stream of requests to <hostname> through the load balancer; report failures, the longest gap, versions and workers (exit 1 if any failed)",
    )
    .argument("<hostname>", "a hostname of one of the target's services, e.g. elm-lang.org")
    .option("--seconds <n>", "how long to run (1-3600)", (v) => parseNumber(v, "--seconds"), 60)
    .option("--rate <r>", "requests a second (10-200)", (v) => parseNumber(v, "--rate"), 20)
    .option("--path <path>", "the path to request", "/")
    .addHelpText("after", examples(EXAMPLES["probe"]))
    .action((hostname: string, _o, cmd: Command) =>
      run("probe", globals(cmd), async (ctx) => {
        const o = cmd.opts<{ seconds: number; rate: number; path: string }>();
        const { formatProbeReport, probe, probeFailure } = await commandModules.probe();
        const report = await probe(ctx, hostname, o);
        return { data: report, text: formatProbeReport(report), failure: probeFailure(report) };
      }),
    );

  program
    .command("logs")
    .description(
      "the service's task log in each running allocation, lines prefixed with the allocation and node, as they arrive",
    )
    .argument("<service>", "a service, e.g. elm-lang.org")
    .option("-f, --follow", "keep printing what the tasks write next, until Ctrl-C", false)
    .option(
      "--since <duration>",
      "only lines that state their time (RFC 3339 or the common log format) at most this long ago, e.g. 10m",
    )
    .option("--alloc <id>", "only the allocation whose ID starts with this")
    .option("--stdout", "only the tasks' stdout", false)
    .option("--stderr", "only the tasks' stderr", false)
    .addHelpText(
      "after",
      examples(EXAMPLES["logs"]) +
        "\nWithout --follow: the last 16 KiB of each log. With it, that and then what comes next,\n" +
        "until Ctrl-C (exit 130) or until every allocation stopped; allocations placed after it\n" +
        "started are not followed (run it again). Nomad keeps no time per line: --since can only\n" +
        "skip lines that state an older time themselves; lines that state none are shown, and a\n" +
        "warning says so. The Nomad token needs read-logs (and read-job) in the job's namespace.\n",
    )
    .action((service: string, _o, cmd: Command) =>
      run("logs", globals(cmd), async (ctx) => {
        const o = cmd.opts<{
          follow: boolean;
          since?: string;
          alloc?: string;
          stdout: boolean;
          stderr: boolean;
        }>();
        const { logs } = await commandModules.logs();
        const r = await logs(ctx, service, {
          follow: o.follow,
          ...(o.since !== undefined ? { since: o.since } : {}),
          ...(o.alloc !== undefined ? { alloc: o.alloc } : {}),
          streams:
            o.stdout === o.stderr ? ["stdout", "stderr"] : o.stdout ? ["stdout"] : ["stderr"],
        });
        // The lines were the output; a person needs no summary after them, a script gets one.
        return ctx.options.json ? { data: r, text: "" } : undefined;
      }),
    );

  program
    .command("exec")
    .description(
      "run a command in a running allocation of the service (its main task) and exit with the command's exit code; a TTY when this is a terminal",
    )
    .argument("<service>", "a service, e.g. elm-lang.org")
    .argument("[command...]", "the command and its arguments, after --")
    .option(
      "--alloc <id>",
      "the allocation whose ID starts with this (default: the oldest running)",
    )
    .addHelpText(
      "after",
      examples(EXAMPLES["exec"]) +
        "\nGlobal options go before the command's --, everything after it is the command's.\n" +
        "Its output passes through as it is (with --json: one line event per line, then the\n" +
        "result). elm-infra exits with the command's exit code. The Nomad token needs alloc-exec\n" +
        "(and read-job) in the job's namespace.\n",
    )
    .action((service: string, command: string[], _o, cmd: Command) =>
      run("exec", globals(cmd), async (ctx) => {
        const { exec } = await commandModules.exec();
        const o = cmd.opts<{ alloc?: string }>();
        const r = await exec(
          ctx,
          service,
          command,
          o.alloc !== undefined ? { alloc: o.alloc } : {},
        );
        return ctx.options.json ? { data: r, text: "" } : undefined;
      }),
    );

  program
    .command("backup")
    .description(
      "take a backup of <service>'s data now (inside the cluster, off its host) and copy it here, and to the target's store when it has one; `backup cluster`: Nomad's and Consul's snapshots (encrypted with age, on a worker)",
    )
    .argument(
      "<service>",
      "a service with data, e.g. package.elm-lang.org, or `cluster` for the cluster's own state",
    )
    .addHelpText("after", examples(EXAMPLES["backup"]))
    .action((service: string, _o, cmd: Command) =>
      run("backup", globals(cmd), async (ctx) => {
        const m = await commandModules.backup();
        if (m.isClusterBackup(service)) {
          const r = await m.backupCluster(ctx);
          return { data: r, text: m.formatClusterBackup(r) };
        }
        const r = await m.backup(ctx, service);
        return { data: r, text: m.formatBackup(r) };
      }),
    );

  program
    .command("restore")
    .description(
      "put a backup of <service>'s data back (the newest, or <file>, or one from the target's store); the site is down meanwhile",
    )
    .argument("<service>", "a service with data, e.g. package.elm-lang.org")
    .argument("[file]", "a backup on this machine (default: the newest in the cluster)")
    .option(
      "--to <worker>",
      "restore onto this worker (default: the holder, or another if it is gone)",
    )
    .option(
      "--from-store [backup]",
      "take the newest copy (or the one named) from the target's store, checked (size, SHA-256) once brought here",
    )
    .addHelpText("after", examples(EXAMPLES["restore"]))
    .action((service: string, file: string | undefined, _o, cmd: Command) =>
      run("restore", globals(cmd), async (ctx) => {
        const { restore, formatRestore } = await commandModules.restore();
        const o = cmd.opts<{ to?: string; fromStore?: true | string }>();
        const r = await restore(ctx, service, file, {
          ...(o.to ? { to: o.to } : {}),
          ...(o.fromStore ? { fromStore: o.fromStore } : {}),
        });
        return { data: r, text: formatRestore(r) };
      }),
    );

  program
    .command("destroy")
    .description(
      "destroy the target's VMs and everything on them; asks for the target's name (or --yes)",
    )
    .option(
      "--delete-data",
      "destroy the services' data with the machines, without taking a last backup first",
      false,
    )
    .addHelpText("after", examples(EXAMPLES["destroy"]))
    .action((_o, cmd: Command) =>
      run("destroy", globals(cmd), async (ctx) => {
        const { destroy, formatDestroy } = await commandModules.destroy();
        const r = await destroy(ctx, {
          deleteData: cmd.opts<{ deleteData: boolean }>().deleteData,
        });
        return { data: r, text: formatDestroy(r) };
      }),
    );

  program
    .command("render")
    .description(
      "print the Nomad job for <service>@<version> (HCL, or JSON with --json); no cluster needed",
    )
    .argument("<service@version>", "service and image tag")
    .addHelpText("after", examples(EXAMPLES["render"]))
    .action((arg: string, _o, cmd: Command) =>
      run("render", globals(cmd), async (ctx) => {
        const { render } = await commandModules.render();
        const r = await render(ctx, arg);
        return { data: r, text: r.hcl.trimEnd() };
      }),
    );

  program
    .command("image")
    .description("build <service>@<version>'s image, tag it and push it to the target's registry")
    .argument("<service@version>", "service and image tag")
    .option("--context <dir>", "build context: the site's build output")
    .option("--no-push", "build and tag only; do not push")
    .option("--base-image <image>", "the BASE_IMAGE build argument", "elm-infra/base:latest")
    .addHelpText("after", examples(EXAMPLES["image"]))
    .action((arg: string, _o, cmd: Command) => {
      return run("image", globals(cmd), async (ctx) => {
        const o = cmd.opts<{
          context?: string;
          push: boolean;
          baseImage: string;
        }>();
        const { buildImage } = await commandModules.image();
        const r = await buildImage(ctx, arg, {
          context: o.context,
          push: o.push,
          baseImage: o.baseImage,
        });
        const how =
          r.delivery.kind === "tagged" ? `tagged only: ${r.delivery.reason}` : r.delivery.kind;
        return {
          data: r,
          text: `${r.ref}${r.imageId ? ` (${r.imageId.slice(7, 19)})` : ""}: ${how}`,
        };
      });
    });

  program
    .command("prune")
    .description(
      "delete old tags of <service>'s image from the target's registry: every version Nomad's job still refers to stays, and the newest --keep besides",
    )
    .argument("<service>", "a service, e.g. elm-lang.org")
    .option(
      "--keep <n>",
      "how many of the newest versions to keep besides (0-99)",
      (v) => parseCount(v, "--keep"),
      10,
    )
    .addHelpText("after", examples(EXAMPLES["prune"]))
    .action((service: string, _o, cmd: Command) =>
      run("prune", globals(cmd), async (ctx) => {
        const { prune, formatPrune } = await commandModules.prune();
        const r = await prune(ctx, service, { keep: cmd.opts<{ keep: number }>().keep });
        return { data: r, text: formatPrune(r) };
      }),
    );

  program.showHelpAfterError(
    "(run 'elm-infra --help' for the commands, their options and examples)",
  );
  for (const sub of program.commands) {
    const first = (EXAMPLES as Record<string, string[] | undefined>)[sub.name()]?.[0];
    sub.showHelpAfterError(
      [
        ...(first ? [`hint: type for example: ${first}`] : []),
        `(run 'elm-infra ${sub.name()} --help' for its options and more examples)`,
      ].join("\n"),
    );
  }
  return program;
}

/** Options given on the command line (not defaults) among `names`, as the user typed them. */
function given(cmd: Command, names: readonly string[]): string[] {
  return names
    .filter((n) => cmd.getOptionValueSource(n) === "cli")
    .map((n) => cmd.options.find((o) => o.attributeName() === n)?.long ?? `--${n}`);
}

/** An option that means something only beside `needed` is refused without it (exit 2). */
function refuseWithout(cmd: Command, names: readonly string[], needed: string): void {
  const alone = cmd.getOptionValue(needed) ? [] : given(cmd, names);
  if (alone.length > 0)
    throw new UsageError(
      `${alone.join(" and ")} ${alone.length > 1 ? "mean" : "means"} something only with --${needed}, which was not given`,
      `add --${needed}, or leave out ${alone.join(" and ")}`,
    );
}

/** Options that mean nothing in this use of the command are refused (exit 2), not ignored. */
function refuseOptions(cmd: Command, names: readonly string[], why: string): void {
  const extra = given(cmd, names);
  if (extra.length > 0)
    throw new UsageError(
      `${extra.join(" and ")} cannot be used here: ${why}`,
      `leave out ${extra.join(" and ")}`,
    );
}

function parseCount(value: string, flag: string): number {
  if (!/^[0-9]{1,2}$/.test(value)) {
    throw new InvalidArgumentError(`${flag} takes a whole number, for example ${flag} 3`);
  }
  return Number(value);
}

function parseLimit(value: string): number {
  if (!/^[1-9][0-9]{0,3}$/.test(value))
    throw new InvalidArgumentError(
      "--limit takes a whole number from 1 to 9999, for example --limit 20",
    );
  return Number(value);
}

/** `--lock-wait 30s|5m|1h`, in seconds: at most 2 hours. */
function parseLockWait(value: string): number {
  // parsed here, not with config/schema.ts's durationSeconds: --help must not load zod
  const m = /^([0-9]{1,4})(s|m|h)$/.exec(value);
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"] : NaN;
  if (!(seconds >= 1 && seconds <= 7200))
    throw new InvalidArgumentError(
      "--lock-wait takes a duration from 1s to 2h, for example --lock-wait 5m",
    );
  return seconds;
}

function parseNumber(value: string, flag: string): number {
  if (!/^[0-9]{1,5}(\.[0-9]{1,3})?$/.test(value)) {
    throw new InvalidArgumentError(`${flag} takes a number, for example ${flag} 30`);
  }
  return Number(value);
}
