/**
 * `reboot --upgrade-packages`: Debian's security upgrades applied on one host over SSH (the
 * connection the reboot uses), the same command on every target (plan/package-upgrades.ts).
 */
import type { LoadedConfig } from "../config/load.js";
import type { InventoryHost } from "../cluster/inventory.js";
import { connectToHost } from "../cluster/connect.js";
import { PackageUpgradeError } from "../errors.js";
import {
  judgeSecurityUpgrade,
  securityUpgradeCommand,
  type PackageChange,
} from "../plan/package-upgrades.js";

/** apt's lock wait, the lists' download and the upgrades themselves, bounded. */
const UPGRADE_DEADLINE_MS = 30 * 60_000;

/**
 * Runs the security upgrades on `host` and returns the packages they changed; throws
 * PackageUpgradeError, with the stage that failed and apt's last lines, when they fail.
 */
export async function upgradeSecurityPackages(
  config: Pick<LoadedConfig, "root" | "target" | "targetName">,
  host: InventoryHost,
  signal: AbortSignal,
): Promise<PackageChange[]> {
  const ssh = await connectToHost(config, host, "require-pinned", signal);
  try {
    const r = await ssh.exec(securityUpgradeCommand(), { timeoutMs: UPGRADE_DEADLINE_MS });
    const verdict = judgeSecurityUpgrade(host.name, {
      status: r.status,
      output: r.stdout + r.stderr,
    });
    if (verdict.ok) return verdict.changes;
    throw new PackageUpgradeError(
      host.name,
      verdict.stage,
      r.status,
      verdict.lastLines,
      verdict.hint ??
        `fix apt on ${host.name} (its messages above, /var/log/unattended-upgrades/ and /var/log/apt/term.log there), then run the reboot again with --upgrade-packages`,
    );
  } finally {
    await ssh.close();
  }
}
