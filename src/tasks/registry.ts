/**
 * The target's registry, the one path images take to the workers: this machine pushes to its
 * push address, the workers' Docker pulls from its pull address with the credentials Ansible
 * gave it. On the local target the registry is a container of the target (iac/local): bring-up
 * sets its password and records its CA here.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { readUserFile } from "../config/read-file.js";
import { ConfigError, OperationError, UsageError } from "../errors.js";
import type { TlsTrust } from "../http.js";
import { targetPaths } from "../cluster/paths.js";
import { done, notYet, waitFor } from "../wait.js";
import { DockerClient, type RegistryAuth } from "../docker/client.js";
import { RegistryApi, type RegistryCredentials } from "../docker/registry-api.js";
import {
  registryAddresses,
  registryHost,
  repositoryPath,
  type PlatformImage,
  type RegistryAddresses,
} from "../plan/registry.js";

type Log = (line: string) => void;

/** The local registry's container (iac/local). */
export const localRegistryContainer = (target: string) => `${target}-registry`;
/** Where its htpasswd file and CA are inside the container (images/registry/start.sh). */
const htpasswdFile = "/var/lib/docker-registry/htpasswd";
const caFile = "/var/lib/docker-registry/tls/ca.pem";

/** The registry's addresses, or a usage error for a target that has none (`registry: none`). */
export function requireRegistry(config: LoadedConfig, why: string): RegistryAddresses {
  const addresses = registryAddresses(config.target.registry);
  if (!addresses) {
    throw new ConfigError(
      [
        {
          file: config.file,
          path: `targets.${config.targetName}.registry`,
          message: `is 'none': ${why}`,
        },
      ],
      "give the target a registry (an address, or { push, pull })",
    );
  }
  return addresses;
}

/**
 * The credentials for the registry: registryUsername/registryPassword (secrets file or
 * environment); on DigitalOcean the API token serves as both when they are not given.
 */
export function registryCredentials(config: LoadedConfig): RegistryCredentials {
  const { registryUsername, registryPassword, digitaloceanToken } = config.secrets;
  if (registryUsername && registryPassword)
    return { username: registryUsername, password: registryPassword };
  if (config.target.provider === "digitalocean" && digitaloceanToken)
    return { username: digitaloceanToken, password: digitaloceanToken };
  throw new ConfigError(
    [
      {
        file: `secrets/${config.targetName}.yaml`,
        path: registryUsername ? "registryPassword" : "registryUsername",
        message: `is needed to reach the registry ${registryAddresses(config.target.registry)?.push ?? ""}`,
      },
    ],
    config.target.provider === "local"
      ? "bring the target up: bring-up generates them into the secrets file"
      : "set ELM_INFRA_REGISTRY_USERNAME and ELM_INFRA_REGISTRY_PASSWORD (or ELM_INFRA_DIGITALOCEAN_TOKEN), or put them in the secrets file (mode 0600)",
  );
}

/** Docker's push credentials for the push address. */
export function pushAuth(config: LoadedConfig): RegistryAuth {
  const { push } = requireRegistry(config, "there is no registry to push to");
  return { ...registryCredentials(config), serveraddress: registryHost(push) };
}

/** What this machine verifies the registry's HTTPS against: the local target's own CA. */
export async function registryTrust(config: LoadedConfig): Promise<TlsTrust | undefined> {
  if (config.target.provider !== "local") return undefined;
  const file = targetPaths(config).registryCa;
  const ca = await readUserFile(file, {
    what: "the registry's CA",
    maxBytes: 1024 * 1024,
    ifMissing: undefined,
    hint: "bring the target up: bring-up records the registry's CA there",
  });
  if (ca === undefined) {
    throw new OperationError(
      `the registry's CA is not recorded (${file}): the target was not brought up`,
      "run elm-infra bring-up first",
    );
  }
  return { ca, source: `the local registry's CA (${file})` };
}

/** The registry's API at its push address, with the target's credentials and trust. */
export async function registryApi(config: LoadedConfig): Promise<RegistryApi> {
  const { push } = requireRegistry(config, "there is no registry to ask");
  return new RegistryApi(
    registryHost(push),
    registryCredentials(config),
    await registryTrust(config),
  );
}

/**
 * Before `deploy` submits anything: the version's image must be in the registry. Exit 2 with
 * the image and registry named when it is not.
 */
export async function requireImageInRegistry(
  config: LoadedConfig,
  repository: string,
  version: string,
): Promise<void> {
  const addresses = registryAddresses(config.target.registry);
  if (!addresses) return;
  const api = await registryApi(config);
  const path = repositoryPath(addresses.push, repository);
  if (!(await api.hasTag(path, version))) {
    throw new UsageError(
      `${addresses.pull}/${repository}:${version} is not in the registry ${addresses.push} (no manifest for tag ${version}): nothing was submitted`,
      `build and push it first: elm-infra image ${repository}@${version} --context <build output>, or deploy --build`,
    );
  }
}

/** Tags `source` as `<push>/<name>` and pushes it; returns the pushed reference and digest. */
export async function pushImage(
  config: LoadedConfig,
  docker: DockerClient,
  source: string,
  name: string,
  log: Log,
): Promise<{ ref: string; digest: string }> {
  const { push } = requireRegistry(config, "there is no registry to push to");
  const ref = `${push}/${name}`;
  if (ref !== source) await docker.tag(source, ref);
  const digest = await docker.push(ref, pushAuth(config), log);
  return { ref, digest };
}

/** Pushes each platform image this machine holds (the issuer's, Traefik's, the export's). */
export async function pushPlatformImages(
  config: LoadedConfig,
  images: readonly PlatformImage[],
  log: Log,
): Promise<void> {
  const docker = DockerClient.local();
  for (const image of images) {
    if (!(await docker.inspect(image.source))) {
      throw new OperationError(
        `${image.source} is not in this machine's Docker engine, so it cannot be pushed to the registry`,
        image.hint,
      );
    }
    const { ref, digest } = await pushImage(config, docker, image.source, image.name, () => {});
    log(`${ref} pushed (${digest})`);
  }
}

/**
 * The local target's registry: its one user gets the secrets' password (written with
 * `htpasswd -iB`, the password on stdin, unless it already verifies), and its CA is recorded in
 * .elm-infra/<target>/registry-ca.pem for this machine's checks and the hosts' Docker trust.
 * Returns the CA (PEM).
 */
export async function setUpLocalRegistry(
  config: LoadedConfig,
  log: Log,
  signal?: AbortSignal,
): Promise<string> {
  const container = localRegistryContainer(config.targetName);
  const { username, password } = registryCredentials(config);
  const docker = DockerClient.local();
  // At its first start the container makes its CA and certificate (a few seconds) before serving.
  const ca = await waitFor(
    {
      what: `${container} to make its CA`,
      timeoutMs: 60_000,
      intervalMs: 500,
      ...(signal ? { signal } : {}),
      hint: `check the container: docker logs ${container}`,
    },
    async () => {
      const pem = await docker.execOutput(container, ["cat", caFile]).catch((e: Error) => e);
      return pem instanceof Error || !/-----BEGIN CERTIFICATE-----/.test(pem)
        ? notYet(pem instanceof Error ? pem.message : `no certificate in ${caFile}`)
        : done(pem);
    },
  );
  const verified = await docker.execWithInput(
    container,
    ["htpasswd", "-iv", htpasswdFile, username],
    password,
  );
  if (verified !== 0) {
    const code = await docker.execWithInput(
      container,
      ["htpasswd", "-ciB", htpasswdFile, username],
      password,
    );
    if (code !== 0)
      throw new OperationError(
        `could not set the registry's password in ${container} (htpasswd exit ${code})`,
        `check the container: docker logs ${container}`,
      );
    log("the registry's password was set (bcrypt, from the secrets file)");
  } else log("the registry's password is set already");
  const file = targetPaths(config).registryCa;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, ca, { mode: 0o644 });
  log(`the registry's CA recorded in ${file}`);
  return ca;
}
