/**
 * `reboot --upgrade-packages`, pure: the command that applies Debian's security upgrades on a
 * host (the same on every target), and what its output says: which packages changed, or at which
 * stage it failed and apt's last lines. The I/O is in tasks/package-upgrades.ts.
 *
 * unattended-upgrades does the work, as in production's daily runs, under the policy the base
 * role writes (playbooks/roles/base/tasks/upgrades.yml): Debian's security archive only, never
 * the packages elm-infra restarts itself (Consul and Nomad, also held by their roles; Docker and
 * containerd, whose restart would stop every container outside Nomad's knowledge).
 */

/** The base role's policy file; without it unattended-upgrades would follow Debian's defaults. */
export const upgradePolicyFile = "/etc/apt/apt.conf.d/52elm-infra-upgrades";

/** How long the command waits for apt's own daily jobs (production's) to finish first. */
const aptDailyWaitSeconds = 600;

/** One package the upgrades changed: `from` null when it is new, `to` null when it was removed. */
export interface PackageChange {
  name: string;
  from: string | null;
  to: string | null;
}

/** The command's stages, in order; each is announced by a marker line, so a failure names it. */
export const upgradeStages = [
  {
    name: "the upgrade policy",
    command: `test -f ${upgradePolicyFile} || { echo "${upgradePolicyFile} is missing" >&2; exit 3; }`,
    hint: (host: string) =>
      `${host} has not been set up by this version's bring-up (it writes the policy that limits unattended-upgrades to Debian's security archive and never upgrades Consul, Nomad or Docker): run \`elm-infra bring-up\`, then the reboot again`,
  },
  { name: "the packages before", command: installedPackagesCommand(), hint: undefined },
  {
    name: "the daily apt jobs",
    command: `n=0; while systemctl is-active --quiet apt-daily.service apt-daily-upgrade.service && [ "$n" -lt ${aptDailyWaitSeconds / 2} ]; do n=$((n + 1)); sleep 2; done`,
    hint: undefined,
  },
  {
    name: "apt-get update",
    command: "apt-get update -q --error-on=any -o DPkg::Lock::Timeout=600",
    hint: undefined,
  },
  { name: "unattended-upgrade", command: "unattended-upgrade -v", hint: undefined },
  { name: "the packages after", command: installedPackagesCommand(), hint: undefined },
] as const;
export type UpgradeStage = (typeof upgradeStages)[number]["name"];

const marker = "=== elm-infra stage: ";

function installedPackagesCommand(): string {
  return "dpkg-query -W -f '${db:Status-Abbrev} ${binary:Package} ${Version}\\n'";
}

/**
 * The shell script run over SSH as root: each stage after its marker, stderr into stdout (one
 * stream, in order), stopping at the first that fails.
 */
export function securityUpgradeCommand(): string {
  return [
    "set -eu",
    "exec 2>&1",
    "export DEBIAN_FRONTEND=noninteractive",
    ...upgradeStages.flatMap((s) => [`echo '${marker}${s.name}'`, s.command]),
  ].join("\n");
}

/** The output, cut at the markers: each stage's lines, and the last stage that began. */
export function splitUpgradeOutput(output: string): {
  stages: Partial<Record<UpgradeStage, string[]>>;
  reached: UpgradeStage | null;
} {
  const stages: Partial<Record<UpgradeStage, string[]>> = {};
  let reached: UpgradeStage | null = null;
  for (const line of output.split("\n")) {
    if (line.startsWith(marker)) {
      const name = upgradeStages.find((s) => s.name === line.slice(marker.length).trim())?.name;
      if (name) {
        reached = name;
        stages[name] = [];
        continue;
      }
    }
    if (reached) stages[reached]!.push(line);
  }
  return { stages, reached };
}

/** dpkg-query's lines (`ii  name version`): the installed packages' versions by name. */
export function installedVersions(lines: readonly string[]): Map<string, string> {
  const versions = new Map<string, string>();
  for (const line of lines) {
    const [abbrev, name, version] = line.trim().split(/\s+/);
    // The abbreviation's second letter is the package's state: "i", installed.
    if (abbrev && name && version && abbrev[1] === "i") versions.set(name, version);
  }
  return versions;
}

/** What changed between two lists of installed packages, by name. */
export function packageChanges(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): PackageChange[] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names
    .map((name) => ({ name, from: before.get(name) ?? null, to: after.get(name) ?? null }))
    .filter((c) => c.from !== c.to);
}

export type UpgradeVerdict =
  | { ok: true; changes: PackageChange[] }
  | { ok: false; stage: UpgradeStage | null; lastLines: string[]; hint: string | undefined };

/** How many of apt's lines a failure quotes. */
const quotedLines = 12;

/** The command's exit status and output: the packages it changed, or where and why it failed. */
export function judgeSecurityUpgrade(
  host: string,
  r: { status: number | null; output: string },
): UpgradeVerdict {
  const { stages, reached } = splitUpgradeOutput(r.output);
  const before = stages["the packages before"];
  const after = stages["the packages after"];
  if (r.status === 0 && before && after)
    return {
      ok: true,
      changes: packageChanges(installedVersions(before), installedVersions(after)),
    };
  const lines = (reached ? stages[reached]! : r.output.split("\n")).filter((l) => l.trim() !== "");
  return {
    ok: false,
    stage: reached,
    lastLines: lines.slice(-quotedLines),
    hint: upgradeStages.find((s) => s.name === reached)?.hint?.(host),
  };
}

/** `elm-infra-security-canary 1 → 2`, `foo 1.0 (new)`, `bar 2.1 (removed)`. */
export function describePackageChange(c: PackageChange): string {
  if (c.from === null) return `${c.name} ${c.to} (new)`;
  if (c.to === null) return `${c.name} ${c.from} (removed)`;
  return `${c.name} ${c.from} → ${c.to}`;
}

export function describePackageChanges(changes: readonly PackageChange[]): string {
  return changes.length === 0
    ? "no security upgrade was pending"
    : changes.map(describePackageChange).join(", ");
}
