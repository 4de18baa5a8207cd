/**
 * Which of a target's files its store shares (sharedFiles): the inventory, the pinned host keys
 * and the trusted roots everywhere; on the local target also the public half of the key bring-up
 * made, so another operator's bring-up or scale gives the hosts the same key.
 */
import { describe, expect, it } from "vitest";
import { sharedFiles, sharedTargetKeyKey } from "../../../src/cluster/shared-state.js";
import type { LoadedConfig } from "../../../src/config/load.js";

const config = (provider: "local" | "digitalocean", sshKeyFile?: string) =>
  ({
    root: "/work/site",
    file: "/work/site/cluster.yaml",
    targetName: "staging",
    target: {
      provider,
      ssh: { privateKey: ".elm-infra/staging/id_ed25519", knownHosts: ".elm-infra/staging/kh" },
    },
    ...(sshKeyFile ? { sshKeyFile } : {}),
  }) as unknown as LoadedConfig;

describe("sharedFiles", () => {
  it("local: the target's public key too, at <ssh.privateKey>.pub, whoever logs in", () => {
    for (const c of [config("local"), config("local", "/home/bob/.ssh/id_ed25519")])
      expect(sharedFiles(c)).toEqual([
        { key: "files/inventory.json", path: "/work/site/.elm-infra/staging/inventory.json" },
        { key: "files/known_hosts", path: "/work/site/.elm-infra/staging/kh" },
        { key: "files/ca.pem", path: "/work/site/.elm-infra/staging/ca.pem" },
        { key: "files/registry-ca.pem", path: "/work/site/.elm-infra/staging/registry-ca.pem" },
        { key: sharedTargetKeyKey, path: "/work/site/.elm-infra/staging/id_ed25519.pub" },
      ]);
  });

  it("digitalocean: not the key (ssh.privateKey is each operator's own there)", () => {
    expect(sharedFiles(config("digitalocean")).map((f) => f.key)).not.toContain(sharedTargetKeyKey);
  });
});
