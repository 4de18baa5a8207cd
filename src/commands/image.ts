import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { lookUp } from "../config/lookup.js";
import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import { ConfigError, OperationError, UsageError } from "../errors.js";
import { DockerClient, type ImageInfo } from "../docker/client.js";
import { parseSshAddress } from "../docker/endpoint.js";
import {
  describeWorkers,
  incompleteShipment,
  shipImage,
  type Shipment,
  type WorkerEngine,
} from "../docker/ship.js";
import { imageRef } from "../plan/job-vars.js";
import { runSteps } from "../tasks/runner.js";
import { readInventory, workersOf } from "../cluster/inventory.js";
import { workerEngines } from "../tasks/ingress.js";
import type { CommandContext } from "../tasks/context.js";

export interface ImageOptions {
  /** Folder holding the service's build output; required. */
  context?: string;
  /** Push (remote registry) or ship to `hosts` (registry `local`); default true. */
  push?: boolean;
  /** For a target with registry `local`: the workers' SSH addresses, `[user@]host[:port]`. */
  hosts?: string[];
  /** Folder with the Dockerfile; default `images/<service>` next to cluster.yaml. */
  imageDir?: string;
  /** The BASE_IMAGE build argument; default `elm-infra/base:latest`. */
  baseImage?: string;
  /** Source revision recorded in the `org.opencontainers.image.revision` label. */
  revision?: string;
}

/** How the image reached the target. */
export type Delivery =
  | { kind: "tagged"; reason: string }
  | { kind: "shipped"; shipment: Shipment }
  | { kind: "pushed"; registry: string; digest: string };

export interface ImageResult {
  service: string;
  version: string;
  /** The reference the Nomad jobs use: `<repository>:<version>` or `<registry>/<repository>:<version>`. */
  ref: string;
  /** Undefined on --dry-run, which builds nothing. */
  imageId: string | undefined;
  labels: Record<string, string>;
  delivery: Delivery;
}

export const defaultBaseImage = "elm-infra/base:latest";

interface ImageRun {
  info?: ImageInfo;
  delivery?: Delivery;
}

/**
 * `elm-infra image <service>@<version> --context <dir>`: builds the service's image from its
 * build output, tags it for the target, then pushes it to the target's registry or, for the
 * local target, ships it to each worker's engine and checks that they all hold the same image.
 */
export async function buildImage(
  ctx: CommandContext,
  arg: string,
  opts: ImageOptions,
): Promise<ImageResult> {
  const cluster = await ctx.loadCluster();
  const { service, version } = requireVersion(parseServiceRef(arg, Object.keys(cluster.services)));
  const contextDir = await requireContextDir(opts.context, service);

  const config = await ctx.loadConfig();
  const registry = config.target.registry;
  const repository = lookUp(config.services, service)!.image;
  const ref = imageRef(registry, repository, version);
  const imageDir = resolve(opts.imageDir ?? join(config.root, "images", service));
  await requireDockerfile(imageDir, service);
  const deliverTo = planDelivery(config, { ...opts, hosts: await shipTo(config, opts.hosts) });
  const registryAuth = deliverTo.kind === "push" ? requireRegistryAuth(config) : undefined;
  const workers = deliverTo.kind === "ship" ? await workerEnginesAt(config, deliverTo.hosts) : [];

  const created = new Date().toISOString();
  const labels = {
    "org.opencontainers.image.title": service,
    "org.opencontainers.image.version": version,
    "org.opencontainers.image.created": created,
    ...(opts.revision ? { "org.opencontainers.image.revision": opts.revision } : {}),
  };
  const baseImage = opts.baseImage ?? defaultBaseImage;
  const dryRun = ctx.options.dryRun ? "--dry-run: nothing is built or sent" : false;
  const docker = DockerClient.local();

  const run = await runSteps<ImageRun>(
    [
      {
        title: `Build ${ref} from ${contextDir}`,
        skip: () => dryRun,
        run: async (c, step) => {
          if (!(await docker.inspect(baseImage))) {
            throw new OperationError(
              `the base image ${baseImage} is not in the local Docker engine (nothing can be pulled)`,
              "build it with: bash images/base/build.sh",
            );
          }
          c.info = await docker.build({
            context: [{ dir: imageDir }, { dir: contextDir, prefix: "dist" }],
            tags: [ref],
            buildArgs: {
              BASE_IMAGE: baseImage,
              VERSION: version,
              CREATED: created,
              ...(opts.revision ? { REVISION: opts.revision } : {}),
            },
            labels,
            onLog: (line) => step.log(line),
            signal: step.signal,
          });
          step.log(`built ${ref} (${c.info.id})`);
        },
      },
      {
        title: `Push ${ref}`,
        skip: () => dryRun || (deliverTo.kind !== "push" && deliverTo.reason),
        run: async (c, step) => {
          const digest = await docker.push(ref, registryAuth!, (line) => step.log(line));
          c.delivery = { kind: "pushed", registry, digest };
        },
      },
      {
        title: `Ship ${ref} to ${workers.length} worker(s)`,
        skip: () => dryRun || (deliverTo.kind !== "ship" && deliverTo.reason),
        run: async (c, step) => {
          const shipment = await shipImage(docker, ref, workers, {
            onLog: (line) => step.log(line),
          });
          for (const line of describeWorkers(shipment)) step.log(line);
          if (!shipment.complete) throw incompleteShipment(shipment);
          c.delivery = { kind: "shipped", shipment };
        },
      },
    ],
    {},
    { output: ctx.output, signal: ctx.signal },
  );

  const reason = dryRun || (deliverTo.kind === "none" ? deliverTo.reason : "");
  return {
    service,
    version,
    ref,
    imageId: run.info?.id,
    labels: run.info?.labels ?? labels,
    delivery: run.delivery ?? { kind: "tagged", reason },
  };
}

/** The workers to ship to: those given, else (no registry) the workers bring-up recorded. */
async function shipTo(
  config: LoadedConfig,
  hosts: string[] | undefined,
): Promise<string[] | undefined> {
  if ((hosts?.length ?? 0) > 0 || config.target.registry !== "local" || config.target.endpoints)
    return hosts;
  const inventory = await readInventory(config);
  return inventory
    ? workersOf(inventory).map((w) => `${config.target.ssh.user}@${w.ssh.host}:${w.ssh.port}`)
    : hosts;
}

async function requireContextDir(dir: string | undefined, service: string): Promise<string> {
  const example = `--context ../${service}/${service === "elm-lang.org" ? "_site" : "dist"}`;
  if (dir === undefined || dir === "") {
    throw new UsageError(
      `missing --context: the folder holding ${service}'s build output`,
      `pass for example ${example}`,
    );
  }
  const full = resolve(dir);
  const info = await stat(full).catch(() => undefined);
  if (!info)
    throw new UsageError(
      `the build context ${full} does not exist`,
      `build ${service} first, then pass its output folder, e.g. ${example}`,
    );
  if (!info.isDirectory())
    throw new UsageError(
      `the build context ${full} is not a folder`,
      `pass the folder holding ${service}'s build output, e.g. ${example}`,
    );
  return full;
}

async function requireDockerfile(imageDir: string, service: string): Promise<void> {
  const info = await stat(join(imageDir, "Dockerfile")).catch(() => undefined);
  if (!info?.isFile()) {
    throw new UsageError(
      `no Dockerfile for ${service} in ${imageDir}`,
      `run from the repository root, where images/${service}/Dockerfile is`,
    );
  }
}

type DeliveryPlan =
  { kind: "push" } | { kind: "ship"; hosts: string[] } | { kind: "none"; reason: string };

/** Push for a registry, ship for `local` when hosts are given; otherwise say why neither. */
export function planDelivery(
  config: Pick<LoadedConfig, "target" | "targetName">,
  opts: Pick<ImageOptions, "push" | "hosts">,
): DeliveryPlan & { reason: string } {
  if (opts.push === false)
    return {
      kind: "none",
      reason: "not pushed or shipped, as asked: the image is tagged on this machine only",
    };
  if (config.target.registry !== "local")
    return { kind: "push", reason: `target ${config.targetName} uses a registry` };
  const hosts = opts.hosts ?? [];
  if (hosts.length === 0) {
    return {
      kind: "none",
      reason: `target ${config.targetName} has no registry and no worker hosts were given: the image is tagged on this machine only`,
    };
  }
  return { kind: "ship", hosts, reason: `target ${config.targetName} has no registry` };
}

function requireRegistryAuth(config: LoadedConfig): {
  username: string;
  password: string;
  serveraddress: string;
} {
  const { registryUsername, registryPassword } = config.secrets;
  if (!registryUsername || !registryPassword) {
    throw new ConfigError(
      [
        {
          file: `secrets/${config.targetName}.yaml`,
          path: registryUsername ? "registryPassword" : "registryUsername",
          message: `is needed to push to ${config.target.registry}`,
        },
      ],
      "set ELM_INFRA_REGISTRY_USERNAME and ELM_INFRA_REGISTRY_PASSWORD, or put them in the secrets file (mode 0600)",
    );
  }
  return {
    username: registryUsername,
    password: registryPassword,
    serveraddress: config.target.registry.split("/")[0]!,
  };
}

async function workerEnginesAt(config: LoadedConfig, hosts: string[]): Promise<WorkerEngine[]> {
  const { ssh } = config.target;
  const addresses = hosts.map((h) => parseSshAddress(h, { username: ssh.user, port: ssh.port }));
  return workerEngines(
    config,
    addresses.map((a) => ({ name: `${a.host}:${a.port}`, ...a })),
    "pin-on-first-contact",
  );
}
