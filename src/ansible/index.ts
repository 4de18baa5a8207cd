export {
  renderInventory,
  type AnsibleHost,
  type InventoryGroup,
  type InventoryOptions,
} from "./inventory.js";
export {
  buildPlaybookCommand,
  buildAdHocCommand,
  shellQuote,
  type AnsibleCommand,
  type AnsibleConnection,
  type PlaybookOptions,
  type AdHocOptions,
} from "./argv.js";
export { AnsibleOutputParser, type AnsibleOutputSummary, type TaskFailure } from "./output.js";
export type { AnsibleEvent, RecapCounts } from "./events.js";
export {
  runAnsible,
  AnsibleRunError,
  type RunAnsibleOptions,
  type AnsibleRunResult,
} from "./runner.js";
export { gatherFacts, type HostFacts } from "./facts.js";
export { playbookPath } from "./playbooks.js";
export { parseEventLine } from "./events.js";
export {
  runSitePlaybook,
  runPackageDataPlaybook,
  buildSitePlaybookCommand,
  siteExtraVars,
  siteSecretEnv,
  siteInventory,
  siteSecretVariables,
  FAST_HEALTH,
  type SiteHost,
  type SiteSettings,
  type SiteSecrets,
  type SiteHealthSettings,
  type SitePlaybookCommandOptions,
  type RunSitePlaybookOptions,
} from "./site.js";
