/**
 * Which CA certificates this machine verifies a target's HTTPS answers against: bring-up's
 * certificate checks, deploy's proofs through Traefik and the probe all ask targetTrust.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadedConfig } from "../config/load.js";
import { readUserFile } from "../config/read-file.js";
import type { TlsTrust } from "../http.js";
import { trustedRoots } from "../plan/tls.js";
import { targetPaths } from "./paths.js";

/**
 * The CAs a target's HTTPS answers are verified against (plan/tls.ts's trustedRoots): on Let's
 * Encrypt's staging CA the staging roots elm-infra ships; otherwise the PEM file at `trustedCa`
 * (on local, Pebble's roots, written at bring-up), else the system's roots (Let's Encrypt in
 * production).
 */
export async function targetTrust(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
): Promise<TlsTrust> {
  if (trustedRoots(config.targetName, config.target) === "letsencrypt-staging")
    return {
      ca: await letsEncryptStagingRoots(),
      source: `Let's Encrypt's staging roots (${letsEncryptStagingFolder})`,
    };
  const file = targetPaths(config).trustedCa;
  const ca = await readUserFile(file, {
    what: "CA certificates file",
    maxBytes: 1_000_000,
    ifMissing: undefined,
    hint: "check the file's permissions (bring-up writes it for the user who ran it)",
  });
  return ca === undefined
    ? { source: "the system's root CAs" }
    : { ca, source: `the CA certificates in ${file}` };
}

/** Where elm-infra keeps Let's Encrypt's staging roots: public certificates, one PEM each. */
export const letsEncryptStagingFolder = fileURLToPath(
  new URL("../../certificates/letsencrypt-staging/", import.meta.url),
);

/** Every staging root, as one PEM bundle. */
export async function letsEncryptStagingRoots(): Promise<string> {
  const files = (await readdir(letsEncryptStagingFolder)).filter((f) => f.endsWith(".pem")).sort();
  const pems = await Promise.all(
    files.map((f) => readFile(join(letsEncryptStagingFolder, f), "utf8")),
  );
  return pems.map((pem) => pem.trim()).join("\n") + "\n";
}
