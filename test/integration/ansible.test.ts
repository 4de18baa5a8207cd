// Real ansible-core against host containers over real SSH: facts, groups, pinned host keys shared
// with the ssh2 client, and a failing task reported with its task and host.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AnsibleRunError,
  buildPlaybookCommand,
  gatherFacts,
  parseEventLine,
  renderInventory,
  runAnsible,
  type AnsibleConnection,
  type AnsibleEvent,
} from "../../src/ansible/index.js";
import { connectSsh } from "../../src/ssh/index.js";
import { startHosts, type TestHostFleet } from "../harness/hosts.js";

let fleet: TestHostFleet;
let connection: AnsibleConnection;

beforeAll(async () => {
  fleet = await startHosts({ count: 2 });
  const [manager, worker] = fleet.hosts;
  const inventoryPath = join(fleet.workDir, "inventory.yml");
  await writeFile(
    inventoryPath,
    renderInventory([
      { name: manager!.name, address: manager!.ip, group: "managers" },
      { name: worker!.name, address: worker!.ip, group: "workers" },
    ]),
  );
  connection = {
    inventoryPath,
    privateKeyPath: fleet.privateKeyPath,
    knownHostsPath: fleet.knownHostsPath,
  };
});

afterAll(async () => {
  await fleet?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async () => {
    process.stderr.write(`${await fleet.collectLogs()}\n`);
  });
});

describe("ansible against host containers", () => {
  it("reaches every host over SSH with the key and gathers its facts", async () => {
    const lines: string[] = [];
    const events: AnsibleEvent[] = [];
    const facts = await gatherFacts(connection, {
      onLine: (l) => lines.push(l),
      onEvent: (e) => events.push(e),
      timeoutMs: 300_000,
    });

    for (const host of fleet.hosts) {
      const f = facts[host.name];
      expect(f, `facts of ${host.name}`).toBeDefined();
      expect(f).toMatchObject({
        ansible_distribution: "Debian",
        ansible_distribution_major_version: "12",
        ansible_hostname: host.name,
      });
      expect(f!.ansible_all_ipv4_addresses).toContain(host.ip);
    }
    // Progress arrives as the callback plugin's JSON lines.
    expect(lines.some((l) => parseEventLine(l)?.kind === "recap")).toBe(true);
    const recaps = events.filter((e) => e.kind === "recap");
    expect(recaps.map((r) => r.host).sort()).toEqual(fleet.hosts.map((h) => h.name).sort());
    expect(
      recaps.every((r) => r.kind === "recap" && r.counts.ok === 2 && r.counts.failed === 0),
    ).toBe(true);
  });

  it("pins host keys in the file the ssh2 client checks", async () => {
    const pinned = await readFile(fleet.knownHostsPath, "utf8");
    expect(pinned.trim().split("\n").length).toBeGreaterThanOrEqual(fleet.hosts.length);
    // OpenSSH wrote these lines (possibly hashed); ssh2 must accept them without adding its own.
    const ssh = await connectSsh({
      host: fleet.hosts[0]!.ip,
      privateKeyPath: fleet.privateKeyPath,
      knownHostsPath: fleet.knownHostsPath,
      hostKeyPolicy: "require-pinned",
    });
    try {
      expect((await ssh.exec("hostname")).stdout.trim()).toBe(fleet.hosts[0]!.name);
    } finally {
      await ssh.close();
    }
    expect(await readFile(fleet.knownHostsPath, "utf8")).toBe(pinned);
  });

  it("reports the failing task and host as an OperationError", async () => {
    const playbookPath = join(fleet.workDir, "fail-on-workers.yml");
    await writeFile(
      playbookPath,
      [
        "- name: Fail on workers only",
        "  hosts: all",
        "  gather_facts: false",
        "  tasks:",
        "    - name: Refuse to run on a worker",
        "      ansible.builtin.command: sh -c 'echo worker says no >&2; exit 7'",
        "      when: inventory_hostname in groups['workers']",
        "",
      ].join("\n"),
    );
    const run = runAnsible(buildPlaybookCommand({ ...connection, playbookPath }), {
      timeoutMs: 300_000,
    });
    await expect(run).rejects.toBeInstanceOf(AnsibleRunError);
    const error = (await run.catch((e: unknown) => e)) as AnsibleRunError;
    const worker = fleet.hosts[1]!.name;
    expect(error.failures).toEqual([
      {
        host: worker,
        task: "Refuse to run on a worker",
        unreachable: false,
        message: "non-zero return code: worker says no",
        ignored: false,
      },
    ]);
    expect(error.message).toContain(`task "Refuse to run on a worker" on ${worker}`);
    expect(error.recap[fleet.hosts[0]!.name]).toMatchObject({ failed: 0, skipped: 1 });
    expect(error.processExitCode).toBe(2);
  });
});
