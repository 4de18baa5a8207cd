import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import {
  describeRebootPlan,
  formatReboot,
  type RebootResult,
} from "../../../src/commands/reboot.js";
import { PackageUpgradeError } from "../../../src/errors.js";
import {
  describePackageChanges,
  installedVersions,
  judgeSecurityUpgrade,
  packageChanges,
  securityUpgradeCommand,
  upgradePolicyFile,
  upgradeStages,
} from "../../../src/plan/package-upgrades.js";

// Real outputs of securityUpgradeCommand() run as root in a booted elm-infra/host container with
// the local stand-in for Debian's security archive as its source (elm-infra-security-canary 1
// installed, 2 served), as the reboot runs it over SSH: stdout, stderr folded into it.
const sample = (name: string) =>
  readFileSync(new URL(`../../fixtures/package-upgrades/${name}.txt`, import.meta.url), "utf8");

describe("the security upgrades' command", () => {
  const command = securityUpgradeCommand();

  it("runs every stage in order, each after its marker, stopping at the first that fails", () => {
    const lines = command.split("\n");
    expect(lines.slice(0, 3)).toEqual([
      "set -eu",
      "exec 2>&1",
      "export DEBIAN_FRONTEND=noninteractive",
    ]);
    const markers = lines.filter((l) => l.startsWith("echo '=== elm-infra stage: "));
    expect(markers.map((l) => l.slice("echo '=== elm-infra stage: ".length, -1))).toEqual(
      upgradeStages.map((s) => s.name),
    );
    // A quote in a stage's name would end its marker's echo early.
    for (const s of upgradeStages) expect(s.name).not.toMatch(/['\\]/);
  });

  it("refuses a host without the base role's policy before apt runs, then updates the lists and runs unattended-upgrade", () => {
    const at = (needle: string) => command.indexOf(needle);
    expect(at(`test -f ${upgradePolicyFile}`)).toBeGreaterThan(-1);
    expect(at(`test -f ${upgradePolicyFile}`)).toBeLessThan(at("apt-get update"));
    // Any list that fails to download fails the stage (apt-get update alone exits 0 then).
    expect(command).toContain("apt-get update -q --error-on=any");
    expect(at("apt-get update")).toBeLessThan(at("unattended-upgrade -v"));
    expect(command).not.toMatch(/debian\.org|apt-get (upgrade|dist-upgrade)/);
  });

  it("checks the very file the base role writes", () => {
    const defaults = load(
      readFileSync(
        new URL("../../../playbooks/roles/base/defaults/main.yml", import.meta.url),
        "utf8",
      ),
    ) as Record<string, unknown>;
    expect(defaults.base_upgrades_policy_file).toBe(upgradePolicyFile);
    expect(defaults.base_upgrades_never).toEqual(
      expect.arrayContaining(["nomad", "consul", "docker.io", "containerd"]),
    );
  });
});

describe("judging what the command printed", () => {
  it.each([
    [
      "the canary upgraded from the stand-in's security suite",
      "upgraded",
      [{ name: "elm-infra-security-canary", from: "1", to: "2" }],
    ],
    ["nothing pending", "nothing", []],
  ])("%s", (_what, file, changes) => {
    expect(judgeSecurityUpgrade("w1", { status: 0, output: sample(file) })).toEqual({
      ok: true,
      changes,
    });
  });

  it.each([
    [
      "another package manager holds dpkg's lock",
      "locked",
      1,
      "unattended-upgrade",
      "Cache lock can not be acquired, exiting",
      /fix apt/,
    ],
    [
      "a list failed to download",
      "update-failed",
      100,
      "apt-get update",
      "E: Some index files failed to download. They have been ignored, or old ones used instead.",
      /fix apt/,
    ],
    [
      "a host that the base role's policy never reached",
      "no-policy",
      3,
      "the upgrade policy",
      `${upgradePolicyFile} is missing`,
      /elm-infra bring-up/,
    ],
  ])("%s: the stage that failed and apt's last lines", (_what, file, status, stage, last, hint) => {
    const v = judgeSecurityUpgrade("w1", { status, output: sample(file) });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.stage).toBe(stage);
    expect(v.lastLines.at(-1)).toBe(last);
    expect(v.lastLines.length).toBeLessThanOrEqual(12);
    // The package list of the stage before is not quoted.
    expect(v.lastLines.some((l) => l.startsWith("ii "))).toBe(false);
    const error = new PackageUpgradeError(
      "w1",
      v.stage,
      status,
      v.lastLines,
      v.hint ?? "fix apt on w1",
    );
    expect(error.message).toContain(`on w1 at ${stage} (exit ${status}); it was not rebooted`);
    expect(error.message).toContain(last);
    expect(error.hint).toMatch(hint);
  });

  it("a run that exits 0 without its last listing (cut short) is not taken for success", () => {
    const cut = sample("upgraded").split("=== elm-infra stage: the packages after")[0]!;
    expect(judgeSecurityUpgrade("w1", { status: 0, output: cut }).ok).toBe(false);
  });
});

describe("what changed between dpkg's two lists", () => {
  it("reads installed packages only, held ones too, with their architecture qualifier", () => {
    const versions = installedVersions([
      "ii  bash 5.2.15-2+b2",
      "hi  nomad 1.10.5-1",
      "rc  old-thing 1.0",
      "iU  half 2.0",
      "ii  libc6:amd64 2.36-9+deb12u4",
      "",
    ]);
    expect([...versions]).toEqual([
      ["bash", "5.2.15-2+b2"],
      ["nomad", "1.10.5-1"],
      ["libc6:amd64", "2.36-9+deb12u4"],
    ]);
  });

  it.each([
    ["upgraded", { a: "1" }, { a: "2" }, [{ name: "a", from: "1", to: "2" }]],
    ["new (a dependency)", {}, { b: "1" }, [{ name: "b", from: null, to: "1" }]],
    ["removed", { c: "1" }, {}, [{ name: "c", from: "1", to: null }]],
    ["unchanged", { d: "1" }, { d: "1" }, []],
  ])("%s", (_what, before, after, expected) => {
    expect(packageChanges(new Map(Object.entries(before)), new Map(Object.entries(after)))).toEqual(
      expected,
    );
  });

  it("says each change", () => {
    expect(
      describePackageChanges([
        { name: "elm-infra-security-canary", from: "1", to: "2" },
        { name: "b", from: null, to: "1" },
        { name: "c", from: "3", to: null },
      ]),
    ).toBe("elm-infra-security-canary 1 → 2, b 1 (new), c 3 (removed)");
    expect(describePackageChanges([])).toBe("no security upgrade was pending");
  });
});

describe("reboot --upgrade-packages: the plan, the summary and a failure", () => {
  const plan = {
    order: [
      { host: "t-worker-1", role: "worker" as const, why: "all" as const, leads: false },
      { host: "t-manager-1", role: "manager" as const, why: "all" as const, leads: false },
    ],
    apiOutage: true,
  };

  it("the plan (and --dry-run) says the upgrades run before each reboot", () => {
    expect(describeRebootPlan(plan, { upgradePackages: true })).toBe(
      "t-worker-1, then t-manager-1; on each, Debian's security upgrades (unattended-upgrade) before its reboot",
    );
    expect(describeRebootPlan(plan, { upgradePackages: false })).toBe(
      "t-worker-1, then t-manager-1",
    );
    const planned: RebootResult = {
      target: "t",
      outcome: "planned",
      plan,
      upgradePackages: true,
      rebooted: [],
      respread: [],
      cluster: null,
    };
    expect(formatReboot(planned, () => "")).toMatch(
      /dry run, nothing changed.*security upgrades.*before its reboot/,
    );
  });

  it("the summary names each host's upgrades", () => {
    const done = (host: string, packages: RebootResult["rebooted"][number]["packages"]) => ({
      host,
      role: "worker" as const,
      before: "a",
      after: "b",
      ...(packages ? { packages } : {}),
      steps: [],
      durationMs: 41_000,
    });
    const text = formatReboot(
      {
        target: "t",
        outcome: "rebooted",
        plan,
        upgradePackages: true,
        rebooted: [
          done("t-worker-1", [{ name: "elm-infra-security-canary", from: "1", to: "2" }]),
          done("t-manager-1", []),
        ],
        respread: [],
        cluster: null,
      },
      () => "",
    );
    expect(text).toContain(
      "t-worker-1: security upgrades: elm-infra-security-canary 1 → 2; rebooted, back in 41 s",
    );
    expect(text).toContain(
      "t-manager-1: security upgrades: no security upgrade was pending; rebooted",
    );
  });

  it("a failure in a rollout names the hosts rebooted before it and those not rebooted", () => {
    const error = new PackageUpgradeError(
      "t-worker-2",
      "apt-get update",
      100,
      ["E: x"],
      "fix apt on t-worker-2",
    ).inRollout(["t-worker-1"], ["t-worker-2", "t-manager-1"]);
    expect(error).toBeInstanceOf(PackageUpgradeError);
    expect(error.exitCode).toBe(1);
    expect(error.hint).toBe(
      "fix apt on t-worker-2; the rollout stopped there: t-worker-1 rebooted before it; not rebooted: t-worker-2, t-manager-1 (run the reboot again for them)",
    );
  });
});
