import { UsageError } from "../errors.js";
import { quote } from "../output/quote.js";

export interface ServiceRef {
  service: string;
  version: string;
}

/**
 * A Docker image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'.
 * This excludes every shell and HCL metacharacter (quotes, $, {, }, ;, spaces, newlines).
 */
const imageTag = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isImageTag(version: string): boolean {
  return imageTag.test(version) && version !== "latest";
}

/**
 * Parses `<service>@<version>` strictly, before any I/O. With `versionOptional`, a bare
 * `<service>` is accepted (rollback to the previous stable version).
 */
export function parseServiceRef(
  arg: string | undefined,
  knownServices: readonly string[],
  options: { versionOptional?: boolean } = {},
): { service: string; version: string | undefined } {
  const form = options.versionOptional ? "<service>[@<version>]" : "<service>@<version>";
  const example = `${knownServices[0] ?? "elm-lang.org"}@1.4.2`;
  if (arg === undefined || arg === "") {
    throw new UsageError(`missing ${form}`, `type for example: ${example}`);
  }
  const at = arg.indexOf("@"); // service names never contain "@"; anything after the first is the version
  const service = at === -1 ? arg : arg.slice(0, at);
  const version = at === -1 ? undefined : arg.slice(at + 1);
  if (!knownServices.includes(service)) {
    throw new UsageError(
      `unknown service ${quote(service)}`,
      `known services: ${knownServices.join(", ")}; type for example: ${example}`,
    );
  }
  if (version === undefined) {
    if (options.versionOptional) return { service, version: undefined };
    throw new UsageError(
      `missing version in ${quote(arg)}`,
      `type ${service}@<version>, for example ${service}@1.4.2`,
    );
  }
  if (!isImageTag(version)) {
    throw new UsageError(
      `invalid version ${quote(version)}: a version is an image tag (letters, digits, '.', '_', '-'; at most 128; not 'latest')`,
      `type for example: ${service}@1.4.2`,
    );
  }
  return { service, version };
}

export function requireVersion(ref: { service: string; version: string | undefined }): ServiceRef {
  if (ref.version === undefined) throw new UsageError(`missing version for ${ref.service}`);
  return { service: ref.service, version: ref.version };
}

/**
 * For backup and restore: the service must be one of cluster.yaml's and keep data on a volume
 * (`data:`); either refusal names the services that do.
 */
export function requireServiceWithData(
  services: Readonly<Record<string, { data?: unknown }>>,
  service: string,
  command: "backup" | "restore",
): void {
  const verb = command === "backup" ? "back up" : "restore";
  const withData = Object.entries(services)
    .filter(([, s]) => s.data)
    .map(([name]) => name);
  const hint = withData.length
    ? `services with data: ${withData.join(", ")}; for example: elm-infra ${command} ${withData[0]}`
    : "no service in cluster.yaml has data: (a volume to back up)";
  if (!Object.hasOwn(services, service))
    throw new UsageError(`unknown service ${quote(service)}`, hint);
  if (!services[service]!.data)
    throw new UsageError(`${service} keeps no data on a volume: nothing to ${verb}`, hint);
}
