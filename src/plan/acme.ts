/**
 * Pure: the acme-issuer job (jobs/acme-issuer.nomad.hbs) and the ACL policies that let it write
 * the certificates and the ingress read them, and nothing else.
 */
import type { LoadedConfig } from "../config/load.js";
import { consulServiceName } from "./names.js";
import { ingressJobName } from "./job-vars.js";
import {
  acmeCa,
  certificateSpecs,
  certificatesPrefix,
  renewalDivisor,
  renewBeforeSeconds,
  type AcmeCa,
} from "./tls.js";
import type { Target } from "../config/schema.js";
import { platformImageRef, type PlatformImage } from "./registry.js";

export const acmeIssuerJobName = "acme-issuer";
/** The Consul service of the issuer's challenge server: Traefik routes the challenges to it. */
export const challengeService = "acme-challenge";
/** The Nomad variable the issuer locks while it works: one issuer at a time. */
export const issuerLockPath = "acme/lock";
/**
 * The Nomad variable that keeps the issuer's ACME account (lego's accounts folder): a new
 * allocation reuses it instead of registering again (each registration counts against the CA's
 * limits, and a reschedule would otherwise make one).
 */
export const issuerAccountPath = "acme/account";
const webroot = "/alloc/data/webroot";

/** The issuer's image as this machine builds it (images/base/build.sh acme-issuer) and pushes it. */
export function issuerPlatformImage(legoVersion: string): PlatformImage {
  const tag = `v${legoVersion.replace(/^v/, "")}`;
  return {
    source: `elm-infra/acme-issuer:${tag}`,
    name: `acme-issuer:${tag}`,
    hint: "build it from the pinned lego binary: bash images/base/build.sh acme-issuer",
  };
}

/** The issuer's image as the workers pull it: lego with what its script needs. */
export function issuerImage(target: Pick<Target, "registry">, legoVersion: string): string {
  return platformImageRef(target, issuerPlatformImage(legoVersion));
}

/** Where the issuer finds the CA: its directory, the names it must resolve, the CA's own CA. */
export interface IssuerCa {
  directory: string;
  /** `name:address` entries for the task's /etc/hosts (the local target's Pebble). */
  extraHosts: string[];
  /** PEM of the CA that signed the directory's HTTPS certificate, when not a public one. */
  directoryCa?: string;
}

export interface AcmeIssuerJobVars {
  job: { id: string; datacenters: string[] };
  version: string;
  image: string;
  challengeService: string;
  tags: string[];
  webroot: string;
  extraHosts: string[];
  /** `name=host1,host2 name2=host3`: the certificates, as jobs/acme-issuer.sh reads them. */
  certificates: string;
  directory: string;
  email: string;
  directoryCa: string;
  caFile: string;
  lockPath: string;
  accountPath: string;
  checkInterval: number;
  legoTimeout: number;
  /** The renewal rule's divisor (tls.ts), as the script reads it: RENEWAL_DIVISOR. */
  renewalDivisor: number;
  /** The target's acme.renewBefore in seconds, 0 when it sets none: RENEW_BEFORE. */
  renewBefore: number;
  script: string;
}

/** The challenge router: on plain HTTP only, before every other router of the web entrypoint. */
export function challengeTags(): string[] {
  const r = consulServiceName(challengeService);
  return [
    "traefik.enable=true",
    `traefik.http.routers.${r}.rule=PathPrefix(\`/.well-known/acme-challenge/\`)`,
    `traefik.http.routers.${r}.entrypoints=web`,
    `traefik.http.routers.${r}.priority=100000`,
    `traefik.http.routers.${r}.service=${r}`,
    `traefik.http.services.${r}.loadbalancer.server.scheme=http`,
  ];
}

export function acmeIssuerJobVars(
  config: Pick<LoadedConfig, "target" | "targetName" | "services">,
  inputs: { legoVersion: string; ca: IssuerCa; script: string },
): AcmeIssuerJobVars {
  const ca = acmeCa(config.targetName, config.target);
  return {
    job: { id: acmeIssuerJobName, datacenters: ["dc1"] },
    version: inputs.legoVersion,
    image: issuerImage(config.target, inputs.legoVersion),
    challengeService,
    tags: challengeTags(),
    webroot,
    extraHosts: inputs.ca.extraHosts,
    certificates: certificateSpecs(config)
      .map((c) => `${c.name}=${c.domains.join(",")}`)
      .join(" "),
    directory: inputs.ca.directory,
    email: acmeEmail(config),
    directoryCa: inputs.ca.directoryCa ?? "",
    caFile: inputs.ca.directoryCa ? "/local/acme-ca.pem" : "",
    lockPath: issuerLockPath,
    accountPath: issuerAccountPath,
    ...issuerTimings(ca),
    renewalDivisor,
    renewBefore: renewBeforeSeconds(config.target),
    script: inputs.script,
  };
}

/** How often the issuer looks at the certificates, and how long one lego run may take (s). */
export function issuerTimings(ca: AcmeCa): { checkInterval: number; legoTimeout: number } {
  // Short certificates (Pebble's) are looked at often; Let's Encrypt's every 5 minutes.
  return { checkInterval: ca.kind === "pebble" ? 5 : 300, legoTimeout: 120 };
}

/**
 * How long bring-up waits for the certificates: at least one full cycle of the issuer (its check
 * interval, then lego's whole run) and a minute more, and never less than four minutes.
 */
export function certificateWaitMs(ca: AcmeCa): number {
  const { checkInterval, legoTimeout } = issuerTimings(ca);
  return Math.max(240, checkInterval + legoTimeout + 60) * 1000;
}

/**
 * The ACME account's contact: acme.email, else hostmaster@ the first service's first hostname
 * without its `www.` (RFC 2142's mailbox for a domain's operators).
 */
export function acmeEmail(config: Pick<LoadedConfig, "target" | "services">): string {
  if (config.target.acme?.email) return config.target.acme.email;
  const first = certificateSpecs(config)[0]?.domains[0] ?? "localhost";
  return `hostmaster@${first.replace(/^www\./, "")}`;
}

/** A Nomad ACL policy bound to one job (its workload identity). */
export interface JobPolicy {
  name: string;
  description: string;
  rules: string;
  jobId: string;
}

/** The issuer writes the certificates and its lock; the ingress reads the certificates. */
export function acmePolicies(): JobPolicy[] {
  return [
    {
      name: "elm-infra-acme-issuer",
      description:
        "elm-infra: the acme-issuer job writes the certificates, its lock and its ACME account",
      jobId: acmeIssuerJobName,
      rules: variablesPolicy([
        [`${certificatesPrefix}/*`, ["read", "write", "list"]],
        [issuerLockPath, ["read", "write"]],
        [issuerAccountPath, ["read", "write"]],
      ]),
    },
    {
      name: "elm-infra-ingress-certificates",
      description: "elm-infra: the ingress job reads the certificates",
      jobId: ingressJobName,
      rules: variablesPolicy([[`${certificatesPrefix}/*`, ["read", "list"]]]),
    },
  ];
}

function variablesPolicy(paths: Array<[string, string[]]>): string {
  const blocks = paths
    .map(
      ([path, caps]) =>
        `    path "${path}" {\n      capabilities = [${caps.map((c) => `"${c}"`).join(", ")}]\n    }`,
    )
    .join("\n");
  return `namespace "default" {\n  variables {\n${blocks}\n  }\n}\n`;
}
