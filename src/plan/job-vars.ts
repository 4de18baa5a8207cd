import type { LoadedConfig } from "../config/load.js";
import { hostnamesOf } from "../config/load.js";
import { lookUp } from "../config/lookup.js";
import { UsageError } from "../errors.js";
import { quote } from "../output/quote.js";
import type { ServiceRef } from "../config/service-ref.js";
import {
  canaryEntrypoint,
  canaryEntrypointPort,
  canaryHeader,
  workerHeader,
} from "../traefik/canary.js";
import { backupExport, type BackupExport } from "./package-data.js";
import { consulServiceName } from "./names.js";
import { imageRef } from "./registry.js";
import { certificatesPrefix, servesHttps, splitWwwRedirects } from "./tls.js";
import { defaultUpdate, type UpdateTimings } from "../config/schema.js";
import type { Target } from "../config/schema.js";
import { buildsPlatformImages, platformImageRef, type PlatformImage } from "./registry.js";

export { defaultUpdate, type UpdateTimings } from "../config/schema.js";

function hostRule(hostnames: string[]): string {
  return hostnames.map((h) => `Host(\`${h}\`)`).join(" || ");
}

/** The ingress's own middlewares (its file provider, jobs/ingress.nomad.hbs). */
export const ingressMiddlewares = {
  worker: "elm-infra-worker",
  retry: "elm-infra-retry",
  toHttps: "elm-infra-to-https",
  toApex: "elm-infra-to-apex",
  hsts: "elm-infra-hsts",
} as const;

/**
 * Consul tags that make Traefik route the service's hostnames on the public entrypoint, and the
 * canary's own router on the canary entrypoint (never public: see canaryEntrypoint). With
 * `https` (every real cluster) the public entrypoint is websecure, with the certificate of the
 * hostname (the ingress's file provider has them), and `www.` hostnames whose apex the service
 * also has answer with a redirect to the apex; plain HTTP redirects to HTTPS (the ingress's own
 * router). Without (the dev agents), the hostnames are served on web.
 */
export function traefikTags(
  service: string,
  hostnames: string[],
  options: { https: boolean } = { https: false },
): { tags: string[]; canaryTags: string[] } {
  const name = consulServiceName(service);
  const canary = `${name}-canary`;
  return {
    tags: publicRouterTags(name, hostnames, options),
    canaryTags: [
      "traefik.enable=true",
      `traefik.http.routers.${canary}.rule=(${hostRule(hostnames)}) && Header(\`${canaryHeader}\`, \`1\`)`,
      `traefik.http.routers.${canary}.entrypoints=${canaryEntrypoint}`,
      `traefik.http.routers.${canary}.priority=1000`,
      `traefik.http.routers.${canary}.service=${canary}`,
      `traefik.http.services.${canary}.loadbalancer.server.scheme=http`,
      "canary",
    ],
  };
}

/** The Consul service (and Traefik router) of a data service's read-only standby. */
export const standbyServiceName = (service: string) => `${consulServiceName(service)}-standby`;

/** Reads only: what a read-only standby's routers add to the hostnames' rule. */
const readsOnly = "Method(`GET`) || Method(`HEAD`)";

/**
 * The routers of the public entrypoint for `name` (a Consul service): the hostnames, and the
 * `www.` redirects. A standby's (`readOnly`) match reads only, at the lowest priority: while the
 * site's own instances are in Consul's catalog their routers win (a rule's length is its default
 * priority); while none is, Traefik has no router of theirs and the standby answers the reads, and
 * a write finds no router (404) rather than a copy that the site would never see.
 */
function publicRouterTags(
  name: string,
  hostnames: string[],
  options: { https: boolean; readOnly?: boolean },
): string[] {
  const { served, redirected } = options.https
    ? splitWwwRedirects(hostnames)
    : { served: hostnames, redirected: [] };
  const router = (r: string, rule: string[]) => [
    `traefik.http.routers.${r}.rule=${options.readOnly ? `(${hostRule(rule)}) && (${readsOnly})` : hostRule(rule)}`,
    `traefik.http.routers.${r}.entrypoints=${options.https ? "websecure" : "web"}`,
    ...(options.https ? [`traefik.http.routers.${r}.tls=true`] : []),
    `traefik.http.routers.${r}.service=${name}`,
    ...(options.readOnly ? [`traefik.http.routers.${r}.priority=1`] : []),
  ];
  return [
    "traefik.enable=true",
    ...router(name, served),
    ...(redirected.length > 0
      ? [
          ...router(`${name}-www`, redirected),
          `traefik.http.routers.${name}-www.middlewares=${ingressMiddlewares.toApex}@file`,
        ]
      : []),
    `traefik.http.services.${name}.loadbalancer.server.scheme=http`,
  ];
}

/**
 * A data service's read-only standby (jobs/package.elm-lang.org.nomad.hbs, group "standby"): a
 * Consul service of its own whose routers serve the hostnames' reads only, and only while the
 * site's own instances are out of the catalog (a planned move of its data, src/tasks/package-data.ts).
 */
export function standbyService(
  service: string,
  hostnames: string[],
  options: { https: boolean },
): { service: string; tags: string[] } {
  const name = standbyServiceName(service);
  return { service: name, tags: publicRouterTags(name, hostnames, { ...options, readOnly: true }) };
}

export interface ServiceJobVars {
  job: { id: string; datacenters: string[] };
  version: string;
  image: string;
  count: number;
  port: number;
  healthPath: string;
  consulService: string;
  tags: string[];
  canaryTags: string[];
  resources: { cpu: number; memory: number };
  update: UpdateTimings;
  check: { interval: string; timeout: string };
  shutdownDelay: string;
  data?: {
    volume: string;
    mountPath: string;
    node?: string;
    export: BackupExport;
    standby: { service: string; tags: string[] };
  };
}

/**
 * Pure: the variables a service's job template is rendered with. `dataNode` is the worker that
 * holds the service's data (the inventory's packageDataHost): the job is pinned there.
 */
export function serviceJobVars(
  config: Pick<LoadedConfig, "target" | "services">,
  ref: ServiceRef,
  overrides: { update?: Partial<UpdateTimings>; dataNode?: string | undefined } = {},
): ServiceJobVars {
  const service = lookUp(config.services, ref.service);
  if (!service) throw new UsageError(`unknown service ${quote(ref.service)}`);
  const { tags, canaryTags } = traefikTags(ref.service, hostnamesOf(config, ref.service), {
    https: servesHttps(config.target),
  });
  return {
    job: { id: ref.service, datacenters: ["dc1"] },
    version: ref.version,
    image: imageRef(config.target.registry, service.image, ref.version),
    count: service.count,
    port: service.port,
    healthPath: service.healthPath,
    consulService: consulServiceName(ref.service),
    tags,
    canaryTags,
    resources: service.resources,
    update: { ...defaultUpdate, ...definedOnly(service.update ?? {}), ...overrides.update },
    check: { interval: service.checkInterval ?? "5s", timeout: "2s" },
    shutdownDelay: "5s",
    ...(service.data
      ? {
          data: {
            volume: service.data.volume,
            mountPath: service.data.mountPath,
            ...((overrides.dataNode ?? service.data.node)
              ? { node: (overrides.dataNode ?? service.data.node)! }
              : {}),
            export: backupExport(ref.service, config.target),
            standby: standbyService(ref.service, hostnamesOf(config, ref.service), {
              https: servesHttps(config.target),
            }),
          },
        }
      : {}),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The Traefik system job's name: renderable like a service, deployed with the cluster. */
export const ingressJobName = "ingress";

/**
 * Where Traefik's Consul token was kept for every worker at once (key consul_token); now the
 * prefix of each worker's own variable, which only that worker's group reads.
 */
export const ingressTokenVariable = "nomad/jobs/ingress";

/**
 * One worker's Traefik token variable (its group's own path, readable by that group alone): a new
 * token written there restarts that worker's Traefik only, so a rotation goes worker by worker.
 */
export const ingressTokenVariableOf = (worker: string) => `${ingressTokenVariable}/${worker}`;

/** Where the load balancer health-checks each worker's Traefik (GET /ping). */
export const ingressPingPort = 8082;

/**
 * How each target's load balancer checks a worker's Traefik on its ping: every `intervalSeconds`
 * (every `downIntervalSeconds` while it is out), out after `unhealthyThreshold` failed checks,
 * back after `healthyThreshold` good ones. The numbers of iac/digitalocean/main.tf's healthcheck
 * and of iac/local/haproxy.cfg.tftpl's default-server line (a unit test holds them equal).
 */
export const loadBalancerHealthChecks = {
  digitalocean: {
    intervalSeconds: 3,
    downIntervalSeconds: 3,
    unhealthyThreshold: 2,
    healthyThreshold: 2,
  },
  local: { intervalSeconds: 1, downIntervalSeconds: 2, unhealthyThreshold: 2, healthyThreshold: 2 },
} as const satisfies Record<
  Target["provider"],
  {
    intervalSeconds: number;
    downIntervalSeconds: number;
    unhealthyThreshold: number;
    healthyThreshold: number;
  }
>;

/**
 * How long a stopping Traefik keeps accepting requests (its ping answering 503 meanwhile): until
 * the load balancer has seen the failed checks that take the worker out, plus one interval and a
 * second of margin. 10 s behind DigitalOcean's load balancer, 4 s behind the local one: each
 * Traefik stop (a rollout, a drain, a rotation) waits no longer than its load balancer needs.
 */
export function ingressGraceSeconds(provider: Target["provider"]): number {
  const check = loadBalancerHealthChecks[provider];
  return (check.unhealthyThreshold + 1) * check.intervalSeconds + 1;
}

/**
 * How long the load balancer may take to send requests to a worker whose Traefik answers again:
 * its good checks, at the interval it checks a worker that is out, plus a second. Waited after
 * each worker of a rollout or a token renewal before the next worker's Traefik stops, so two are
 * never out at once: 7 s behind DigitalOcean's load balancer, 5 s behind the local one.
 */
export function loadBalancerTakesBackMs(provider: Target["provider"]): number {
  const check = loadBalancerHealthChecks[provider];
  return (check.healthyThreshold * check.downIntervalSeconds + 1) * 1000;
}

/** One worker's Traefik: the version it runs. */
export interface IngressWorker {
  name: string;
  version: string;
}

export interface IngressJobVars {
  job: { datacenters: string[] };
  nodePool: string;
  workers: Array<IngressWorker & { image: string }>;
  /** Where Traefik's API listens on each worker: its loopback only, reached through SSH. */
  apiAddress: string;
  /** Where the canary routers' entrypoint listens on each worker: its loopback only, as the API. */
  canaryAddress: string;
  /** The Consul agent on each worker, whose catalog Traefik reads. */
  consulAddress: string;
  pingPort: number;
  /** The prefix of each worker's token variable: `<tokenVariable>/<worker>`. */
  tokenVariable: string;
  /** The entrypoint middleware that adds `workerHeader: <worker name>` to every answer. */
  workerMiddleware: string;
  workerHeader: string;
  /** Retries a request whose instance does not answer (network error) on another instance. */
  retryMiddleware: string;
  /**
   * HTTPS (every real cluster): the certificates from the Nomad variables under `certificates`
   * (readable by this job only), plain HTTP redirected to HTTPS, HSTS on every answer.
   */
  https: boolean;
  certificatesPrefix: string;
  toHttpsMiddleware: string;
  toApexMiddleware: string;
  hstsMiddleware: string;
  /** How long Traefik dials an instance before that counts as a network error. */
  dialTimeout: string;
  /** How long Traefik keeps accepting (ping already 503) after being told to stop. */
  graceTimeout: string;
  killTimeout: string;
}

/** Traefik's image as the local target builds it (images/base/build.sh traefik) and pushes it. */
export function traefikPlatformImage(version: string): PlatformImage {
  const name = `traefik:v${version.replace(/^v/, "")}`;
  return {
    source: name,
    name,
    hint: "build it from the pinned Traefik binary: bash images/base/build.sh traefik",
  };
}

/** Traefik's image at a version: the official image, or the target's own build from its registry. */
export function traefikImage(
  target: Pick<Target, "provider" | "registry"> | undefined,
  version: string,
): string {
  const image = traefikPlatformImage(version);
  return target && buildsPlatformImages(target) ? platformImageRef(target, image) : image.source;
}

/** Pure: the variables of the ingress job, one group per worker at its own version. */
export function ingressJobVars(
  workers: readonly IngressWorker[],
  options: { https: boolean; target?: Pick<Target, "provider" | "registry"> } = { https: false },
): IngressJobVars {
  return {
    job: { datacenters: ["dc1"] },
    nodePool: "default",
    workers: workers.map((w) => ({
      name: w.name,
      version: w.version.replace(/^v/, ""),
      image: traefikImage(options.target, w.version),
    })),
    apiAddress: "127.0.0.1:8081",
    canaryAddress: `127.0.0.1:${canaryEntrypointPort}`,
    consulAddress: "127.0.0.1:8500",
    pingPort: ingressPingPort,
    tokenVariable: ingressTokenVariable,
    workerMiddleware: ingressMiddlewares.worker,
    workerHeader,
    retryMiddleware: ingressMiddlewares.retry,
    https: options.https,
    certificatesPrefix,
    toHttpsMiddleware: ingressMiddlewares.toHttps,
    toApexMiddleware: ingressMiddlewares.toApex,
    hstsMiddleware: ingressMiddlewares.hsts,
    dialTimeout: "500ms",
    graceTimeout: `${ingressGraceSeconds(options.target?.provider ?? "digitalocean")}s`,
    killTimeout: "30s",
  };
}
