/**
 * Pure: HTTPS on a target. Which CA issues its certificates, which certificates it needs (one per
 * service, for all of its hostnames), where they are kept (Nomad variables under `certs/`), when
 * one is due for renewal and when it is close enough to expiry to warn about.
 */
import type { LoadedConfig } from "../config/load.js";
import { hostnamesOf } from "../config/load.js";
import { durationSeconds, type Target } from "../config/schema.js";

export const letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory";
export const letsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory";

/** The prefix of the Nomad variables that hold the certificates: written by the issuer only. */
export const certificatesPrefix = "certs";

/** Targets on a real cluster serve HTTPS; the dev agents on loopback (`endpoints`) do not. */
export function servesHttps(target: Pick<Target, "endpoints">): boolean {
  return target.endpoints === undefined;
}

export type AcmeCa =
  { kind: "pebble"; lifetimeSeconds: number } | { kind: "directory"; directory: string };

/** Which ACME CA the target's issuer asks: its own Pebble on local, Let's Encrypt otherwise. */
export function acmeCa(targetName: string, target: Pick<Target, "provider" | "acme">): AcmeCa {
  if (target.acme?.directory) return { kind: "directory", directory: target.acme.directory };
  if (target.provider === "local")
    return {
      kind: "pebble",
      lifetimeSeconds: durationSeconds(target.acme?.certificateLifetime ?? "1h"),
    };
  return {
    kind: "directory",
    directory: targetName === "production" ? letsEncrypt : letsEncryptStaging,
  };
}

/**
 * Which CAs verify a target's HTTPS answers. Let's Encrypt's staging roots are in no system's
 * store: a target on the staging CA trusts the ones elm-infra ships
 * (certificates/letsencrypt-staging/). Any other trusts its CA file when there is one (on local,
 * bring-up writes Pebble's roots there; elsewhere an operator may put a CA of their own there),
 * else the system's roots (Let's Encrypt in production).
 */
export type TrustedRoots = "letsencrypt-staging" | "ca-file-or-system";

export function trustedRoots(
  targetName: string,
  target: Pick<Target, "provider" | "acme">,
): TrustedRoots {
  const ca = acmeCa(targetName, target);
  return ca.kind === "directory" && ca.directory === letsEncryptStaging
    ? "letsencrypt-staging"
    : "ca-file-or-system";
}

/** One certificate: its Nomad variable's name and the hostnames it covers (the first names it). */
export interface CertificateSpec {
  service: string;
  name: string;
  domains: string[];
}

/** A Nomad variable path: letters, digits, '-', '_' and '~' only (no dots). */
export function certificateName(service: string): string {
  return service.replace(/[^A-Za-z0-9_~-]/g, "-");
}

export function certificateVariable(name: string): string {
  return `${certificatesPrefix}/${name}`;
}

/** The certificates a target needs: one per service, covering every hostname of it. */
export function certificateSpecs(
  config: Pick<LoadedConfig, "target" | "services">,
): CertificateSpec[] {
  return Object.keys(config.services)
    .sort()
    .map((service) => ({
      service,
      name: certificateName(service),
      domains: hostnamesOf(config, service),
    }));
}

/**
 * `www.` hostnames whose apex is also a hostname of the service answer with a redirect to the
 * apex (as the original elm-lang.org did); the others are served.
 */
export function splitWwwRedirects(hostnames: readonly string[]): {
  served: string[];
  redirected: string[];
} {
  const redirected = hostnames.filter(
    (h) => h.startsWith("www.") && hostnames.includes(h.slice(4)),
  );
  return { served: hostnames.filter((h) => !redirected.includes(h)), redirected };
}

/**
 * The renewal rule: a certificate is renewed once less than 1/renewalDivisor of its lifetime is
 * left (a third: 30 of 90 days). The issuer applies it (jobs/acme-issuer.sh, `renewal_due`), given
 * this number as RENEWAL_DIVISOR by its job (plan/acme.ts): this is its one source.
 */
export const renewalDivisor = 3;

/**
 * The target's own addition to the rule, `acme.renewBefore` (seconds; 0 when it sets none): a
 * certificate with less than that left is renewed too, as lego's --days. The end-to-end run's
 * 15-minute certificates renew with 700 s left, so a renewal stalled for minutes (a lock kept by a
 * lost leader, a manager replaced) is still done long before one expires.
 */
export function renewBeforeSeconds(target: Pick<Target, "acme">): number {
  return target.acme?.renewBefore ? durationSeconds(target.acme.renewBefore) : 0;
}

/**
 * `status --check` warns when less than 1/warningDivisor (a quarter) of a certificate's lifetime
 * is left: renewal (at 1/renewalDivisor) should have happened by then, so the issuer is failing.
 */
export const warningDivisor = 4;

/**
 * How long a stored certificate must stay valid for bring-up (and deploy) to count it as there:
 * one that expires sooner is as good as missing (the issuer has failed to renew it, e.g. backing
 * off after DNS was wrong), so the wait wakes the issuer and waits for the new one.
 */
export const certificateMarginMs = 60_000;

/** Whether a stored certificate still counts as there: valid for at least the margin from now. */
export function outlivesMargin(notAfter: string | Date, now: Date): boolean {
  return new Date(notAfter).getTime() - now.getTime() >= certificateMarginMs;
}

/** `status --check`'s warning for a certificate the issuer should have renewed by now. */
export function expiryProblem(
  validity: { notBefore: Date; notAfter: Date },
  now: Date,
): string | undefined {
  const left = validity.notAfter.getTime() - now.getTime();
  const lifetime = validity.notAfter.getTime() - validity.notBefore.getTime();
  if (left <= 0) return `expired at ${validity.notAfter.toISOString()}`;
  if (left < lifetime / warningDivisor)
    return `expires at ${validity.notAfter.toISOString()} (${formatLeft(left)} left): the issuer has not renewed it`;
  return undefined;
}

function formatLeft(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
