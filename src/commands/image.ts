import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { lookUp } from "../config/lookup.js";
import { parseServiceRef, requireVersion } from "../config/service-ref.js";
import { OperationError, UsageError } from "../errors.js";
import { DockerClient, type ImageInfo } from "../docker/client.js";
import { imageRef, registryAddresses } from "../plan/registry.js";
import { runSteps } from "../tasks/runner.js";
import { pushAuth } from "../tasks/registry.js";
import type { CommandContext } from "../tasks/context.js";

export interface ImageOptions {
  /** Folder holding the service's build output; required. */
  context?: string;
  /** Push to the target's registry; default true. */
  push?: boolean;
  /** Folder with the Dockerfile; default `images/<service>` next to cluster.yaml. */
  imageDir?: string;
  /** The BASE_IMAGE build argument; default `elm-infra/base:latest`. */
  baseImage?: string;
  /** Source revision recorded in the `org.opencontainers.image.revision` label. */
  revision?: string;
}

/** How the image reached the target. */
export type Delivery =
  { kind: "tagged"; reason: string } | { kind: "pushed"; registry: string; digest: string };

export interface ImageResult {
  service: string;
  version: string;
  /** The reference the Nomad jobs use: `<pull address>/<repository>:<version>` (`<repository>:<version>` for registry `none`). */
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
 * build output, tags it for the target, then pushes it to the target's registry (where every
 * worker pulls it from, with its credentials).
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
  const pushRef = imageRef(registry, repository, version, "push");
  const imageDir = resolve(opts.imageDir ?? join(config.root, "images", service));
  await requireDockerfile(imageDir, service);
  const deliverTo = planDelivery(config, opts);
  const registryAuth = deliverTo.kind === "push" ? pushAuth(config) : undefined;

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
            tags: [...new Set([ref, pushRef])],
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
        title: `Push ${pushRef}`,
        skip: () => dryRun || (deliverTo.kind !== "push" && deliverTo.reason),
        run: async (c, step) => {
          const digest = await docker.push(pushRef, registryAuth!, (line) => step.log(line));
          c.delivery = { kind: "pushed", registry: registryAddresses(registry)!.push, digest };
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

type DeliveryPlan = { kind: "push" } | { kind: "none" };

/** Push when the target has a registry and a push is not declined; otherwise say why not. */
export function planDelivery(
  config: Pick<LoadedConfig, "target" | "targetName">,
  opts: Pick<ImageOptions, "push">,
): DeliveryPlan & { reason: string } {
  if (opts.push === false)
    return {
      kind: "none",
      reason: "not pushed, as asked: the image is tagged on this machine only",
    };
  if (config.target.registry === "none")
    return {
      kind: "none",
      reason: `target ${config.targetName} has no registry (none): the image is tagged on this machine, whose Docker engine runs it`,
    };
  return { kind: "push", reason: `target ${config.targetName} pulls from its registry` };
}
