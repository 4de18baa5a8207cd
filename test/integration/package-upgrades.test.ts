// `reboot --upgrade-packages`' upgrades on a host container (systemd, sshd), with the real
// programs: the base role's security-upgrades tasks (Ansible over SSH) point it at the local
// stand-in for Debian's security archive (src/tools/agents-apt.sh, served as the target's apt
// container serves it) and write unattended-upgrades' policy; then the very task the reboot runs
// (upgradeSecurityPackages, over SSH) brings elm-infra-security-canary from 1 to 2, while a
// "security archive" offering newer nomad, consul and docker.io upgrades none of them (the first
// two held as their roles hold them, all three on the policy's blacklist). Its failures name the
// stage and apt's last lines. The daily runs stay off on the local target.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSitePlaybook, type SiteHost } from "../../src/ansible/index.js";
import { connectToHost } from "../../src/cluster/connect.js";
import type { InventoryHost } from "../../src/cluster/inventory.js";
import { loadConfig, type LoadedConfig } from "../../src/config/load.js";
import { PackageUpgradeError } from "../../src/errors.js";
import { upgradePolicyFile } from "../../src/plan/package-upgrades.js";
import { upgradeSecurityPackages } from "../../src/tasks/package-upgrades.js";
import { startHosts, type TestHost, type TestHostFleet } from "../harness/hosts.js";
import { hostImageForTests, sshTargetYaml } from "../harness/local-target.js";
import { randomSiteSecrets } from "../harness/site.js";

const canary = "elm-infra-security-canary";
let fleet: TestHostFleet;
let vm: TestHost;
let config: LoadedConfig;
let host: InventoryHost;
let work: string;
const signal = new AbortController().signal;

const versionOf = async (name: string) =>
  (await fleet.exec(vm, ["dpkg-query", "-W", "-f", "${Version}", name])).trim();

/**
 * A folder to serve as `file:` source: an unsigned archive whose Release reads as Debian's security
 * archive, offering each package at 99.0.0-1, and the packages' 1.0.0-1 to install first.
 */
async function makeTemptingArchive(dir: string, names: string[]): Promise<void> {
  const deb = async (name: string, version: string, dest: string) => {
    const root = await mkdtemp(join(tmpdir(), "elm-infra-upkg-deb-"));
    await mkdir(join(root, "DEBIAN"));
    await writeFile(
      join(root, "DEBIAN/control"),
      `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: test <t@localhost>\nDescription: test stand-in\n`,
    );
    await execa("dpkg-deb", ["--root-owner-group", "--build", root, dest], { stdin: "ignore" });
    await rm(root, { recursive: true, force: true });
  };
  await mkdir(join(dir, "pool"), { recursive: true });
  await mkdir(join(dir, "first"));
  for (const name of names) {
    await deb(name, "99.0.0-1", join(dir, "pool", `${name}_99.0.0-1_all.deb`));
    if (name !== "docker.io") await deb(name, "1.0.0-1", join(dir, "first", `${name}.deb`));
  }
  const index = join(dir, "dists/bookworm-security/main/binary-amd64");
  await mkdir(index, { recursive: true });
  const packages = await execa("apt-ftparchive", ["packages", "pool"], { cwd: dir });
  await writeFile(join(index, "Packages"), `${packages.stdout}\n`);
  const release = await execa(
    "apt-ftparchive",
    [
      ...["-o", "APT::FTPArchive::Release::Origin=Debian"],
      ...["-o", "APT::FTPArchive::Release::Label=Debian-Security"],
      ...["-o", "APT::FTPArchive::Release::Codename=bookworm-security"],
      ...["-o", "APT::FTPArchive::Release::Components=main"],
      ...["-o", "APT::FTPArchive::Release::Architectures=amd64"],
      ...["release", "."],
    ],
    { cwd: join(dir, "dists/bookworm-security") },
  );
  await writeFile(join(dir, "dists/bookworm-security/Release"), `${release.stdout}\n`);
}

beforeAll(async () => {
  fleet = await startHosts({ count: 1, agentRepository: true, image: await hostImageForTests() });
  vm = fleet.hosts[0]!;
  work = await mkdtemp(join(tmpdir(), `${fleet.prefix}-upkg-`));
  const file = join(work, "cluster.yaml");
  await writeFile(
    file,
    sshTargetYaml({
      target: "upkg",
      privateKey: fleet.privateKeyPath,
      knownHosts: fleet.knownHostsPath,
    }),
  );
  config = await loadConfig({ file, target: "upkg" });
  host = { name: vm.name, role: "manager", privateAddress: vm.ip, ssh: { host: vm.ip, port: 22 } };
  // Pinned as bring-up pins each host: the reboot's connections require it.
  await (await connectToHost(config, host, "pin-on-first-contact", signal)).close();

  const siteHost: SiteHost = {
    name: vm.name,
    role: "manager",
    privateIp: vm.ip,
    sshHost: vm.ip,
    sshPort: 22,
  };
  const repository = { url: fleet.aptUrl!, keyUrl: `${fleet.aptUrl!}/gpg` };
  const site = await runSitePlaybook({
    hosts: [siteHost],
    settings: {
      target: "upkg",
      softwareSource: "local",
      agentRepository: repository,
      securityRepository: repository,
      consulVersion: "0.0.0",
      nomadVersion: "0.0.0",
      authorizedKeys: [fleet.publicKey],
    },
    secrets: randomSiteSecrets(),
    privateKeyPath: fleet.privateKeyPath,
    knownHostsPath: fleet.knownHostsPath,
    tags: ["security-upgrades"],
    timeoutMs: 120_000,
  });
  expect(site.exitCode).toBe(0);

  // What a host has before the reboot: the canary at 1 from the stand-in; nomad and consul held
  // by their roles; and an archive labelled as Debian's security archive offering all three newer.
  const archive = join(work, "tempting");
  await makeTemptingArchive(archive, ["nomad", "consul", "docker.io"]);
  await execa("docker", ["cp", archive, `${vm.name}:/srv/tempting`], { stdin: "ignore" });
  await fleet.exec(vm, [
    "sh",
    "-c",
    [
      "set -e",
      "echo 'deb [trusted=yes] file:/srv/tempting bookworm-security main' > /etc/apt/sources.list.d/tempting.list",
      "apt-get update -q",
      `DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${canary}=1`,
      "dpkg -i /srv/tempting/first/nomad.deb /srv/tempting/first/consul.deb",
      "apt-mark hold nomad consul",
    ].join("\n"),
  ]);
}, 240_000);

afterAll(async () => {
  await fleet?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("reboot --upgrade-packages: the security upgrades on a host", () => {
  it("the base role points the host at the stand-in only, writes the policy, and leaves the daily runs off", async () => {
    const sources = await fleet.exec(vm, [
      "sh",
      "-c",
      "cat /etc/apt/sources.list.d/*.list; cat /etc/apt/sources.list 2>/dev/null || true",
    ]);
    expect(sources).toContain(`${fleet.aptUrl!} bookworm-security main`);
    expect(sources).not.toMatch(/debian\.org/);
    const policy = await fleet.exec(vm, ["apt-config", "dump", "Unattended-Upgrade"]);
    expect(policy).toContain(
      'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";',
    );
    // Debian's default also takes the stable release's point updates: cleared.
    expect(policy).not.toContain('label=Debian";');
    for (const name of ["nomad\\$", "consul\\$", "docker\\\\.io\\$", "containerd\\$", "runc\\$"])
      expect(policy).toMatch(new RegExp(`Package-Blacklist:: "${name}";`));
    expect(
      (
        await fleet.exec(vm, ["sh", "-c", "systemctl is-enabled apt-daily-upgrade.timer || true"])
      ).trim(),
    ).toBe("masked");
    expect(await fleet.exec(vm, ["cat", "/etc/apt/apt.conf.d/20auto-upgrades"])).toContain(
      'APT::Periodic::Unattended-Upgrade "0";',
    );
  });

  it("brings the canary from 1 to 2 and nothing else: held and blacklisted packages stay, though a security archive offers them", async () => {
    const dockerBefore = await versionOf("docker.io");
    // The temptation is real: apt sees the newer versions in a security-labelled archive.
    expect(await fleet.exec(vm, ["apt-cache", "madison", "nomad", "docker.io"])).toMatch(
      /nomad \|\s+99\.0\.0-1 \| file:\/srv\/tempting bookworm-security[\s\S]*docker\.io \|\s+99\.0\.0-1/,
    );
    expect(await versionOf(canary)).toBe("1");

    const changes = await upgradeSecurityPackages(config, host, signal);

    expect(changes).toEqual([{ name: canary, from: "1", to: "2" }]);
    expect(await versionOf(canary)).toBe("2");
    expect(await versionOf("nomad")).toBe("1.0.0-1");
    expect(await versionOf("consul")).toBe("1.0.0-1");
    expect(await versionOf("docker.io")).toBe(dockerBefore);
    expect(await fleet.exec(vm, ["apt-mark", "showhold"])).toMatch(/consul\nnomad/);
    // Run again: nothing pending.
    expect(await upgradeSecurityPackages(config, host, signal)).toEqual([]);
  });

  it("a list that cannot be downloaded stops it with the stage and apt's last lines", async () => {
    await fleet.exec(vm, [
      "sh",
      "-c",
      "echo 'deb [trusted=yes] http://127.0.0.1:9 bookworm-security main' > /etc/apt/sources.list.d/unreachable.list",
    ]);
    try {
      const error = await upgradeSecurityPackages(config, host, signal).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PackageUpgradeError);
      const e = error as PackageUpgradeError;
      expect(e.host).toBe(vm.name);
      expect(e.stage).toBe("apt-get update");
      expect(e.status).toBe(100);
      expect(e.message).toMatch(/it was not rebooted\. apt's last lines:[\s\S]*127\.0\.0\.1:9/);
      expect(e.hint).toMatch(/fix apt on .*then run the reboot again with --upgrade-packages/);
    } finally {
      await fleet.exec(vm, ["rm", "-f", "/etc/apt/sources.list.d/unreachable.list"]);
    }
  });

  it("a host without the policy is refused before apt runs, and told to run bring-up", async () => {
    await fleet.exec(vm, ["mv", upgradePolicyFile, "/root/policy.saved"]);
    try {
      const error = await upgradeSecurityPackages(config, host, signal).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PackageUpgradeError);
      expect((error as PackageUpgradeError).stage).toBe("the upgrade policy");
      expect((error as PackageUpgradeError).hint).toMatch(/run `elm-infra bring-up`/);
    } finally {
      await fleet.exec(vm, ["mv", "/root/policy.saved", upgradePolicyFile]);
    }
  });
});
