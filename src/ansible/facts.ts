import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    const facts: Record<string, HostFacts> = {};
    for (const host of await readdir(factCacheDir)) {
      facts[host] = JSON.parse(await readFile(join(factCacheDir, host), "utf8")) as HostFacts;
    }
    return facts;
  } finally {
    await rm(factCacheDir, { recursive: true, force: true });
  }
}
