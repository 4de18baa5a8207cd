import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readUserFile } from "../config/read-file.js";
import { buildPlaybookCommand, type AnsibleConnection } from "./argv.js";
import { playbookPath } from "./playbooks.js";
import { runAnsible, type RunAnsibleOptions } from "./runner.js";

export type HostFacts = Record<string, unknown>;

/**
 * Reaches every host in the inventory over SSH and returns the facts Ansible gathered, by
 * inventory hostname (keys as Ansible names them: `ansible_distribution`, `ansible_hostname`...).
 */
export async function gatherFacts(
  connection: AnsibleConnection,
  options: RunAnsibleOptions & { limit?: string } = {},
): Promise<Record<string, HostFacts>> {
  const factCacheDir = await mkdtemp(join(tmpdir(), "elm-infra-facts-"));
  try {
    const { limit, ...runOptions } = options;
    await runAnsible(
      buildPlaybookCommand({
        ...connection,
        playbookPath: playbookPath("ping.yml"),
        factCacheDir,
        ...(limit ? { limit } : {}),
      }),
      runOptions,
    );
    return await readFactCache(factCacheDir);
  } finally {
    await rm(factCacheDir, { recursive: true, force: true });
  }
}

/**
 * The facts Ansible's jsonfile cache wrote, one file per host named as the host. Each is read
 * bounded: a FIFO, a directory or a huge file there is refused (exit 2), not waited on or read whole.
 */
export async function readFactCache(dir: string): Promise<Record<string, HostFacts>> {
  const facts: Record<string, HostFacts> = {};
  for (const host of await readdir(dir)) {
    const text = await readUserFile(join(dir, host), {
      what: "cached Ansible facts file",
      maxBytes: 8_000_000,
    });
    facts[host] = JSON.parse(text) as HostFacts;
  }
  return facts;
}
