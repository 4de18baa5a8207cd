/** The elm-infra SDK: the same operations the CLI runs, typed, for scripts. */
export * from "./errors.js";
export * from "./config/schema.js";
export {
  loadConfig,
  readSecrets,
  writeSecrets,
  hostnamesOf,
  secretEnv,
  type LoadedConfig,
} from "./config/load.js";
export { parseCluster, parseSecrets, parseYaml } from "./config/parse.js";
export { parseServiceRef, isImageTag, type ServiceRef } from "./config/service-ref.js";
export { Output, chooseMode, type OutputEvent, type OutputMode } from "./output/output.js";
export { redact, registerSecret } from "./output/redact.js";
export {
  runSteps,
  StepTimings,
  type Step,
  type StepHandle,
  type StepTiming,
} from "./tasks/runner.js";
export { HttpError, PermissionDeniedError, UnreachableError } from "./http.js";
export { createContext, type CommandContext, type GlobalOptions } from "./tasks/context.js";

// operations behind the commands
export { deploy, type DeployResult } from "./commands/deploy.js";
export { rollback, chooseRollbackTarget, type RollbackResult } from "./commands/rollback.js";
export {
  status,
  statusFailure,
  formatStatus,
  type ServiceStatus,
  type StatusResult,
} from "./commands/status.js";
export {
  findDegradations,
  formatDegradations,
  type Degradation,
  type HealthInput,
  type ObservedBackup,
  type ObservedService,
} from "./plan/health.js";
export { probe, probeFailure } from "./commands/probe.js";
export {
  backup,
  backupCluster,
  type BackupResult,
  type ClusterBackupResult,
} from "./commands/backup.js";
export {
  takeClusterSnapshot,
  scheduleClusterSnapshots,
  observeClusterSnapshots,
  type ClusterSnapshotTaken,
} from "./tasks/cluster-snapshots.js";
export {
  clusterSnapshotJobVars,
  parseSnapshotReport,
  snapshotSettings,
  type ClusterSnapshotsStatus,
} from "./plan/cluster-snapshots.js";
export { ageIdentity, ageRecipient } from "./plan/age.js";
export { restore, type RestoreResult } from "./commands/restore.js";
export {
  movePackageData,
  restorePackageData,
  takeBackup,
  observeBackups,
  packageDataHostOf,
  scheduleBackups,
  type PackageDataOptions,
  type BackupTaken,
  type RestoreSource,
} from "./tasks/package-data.js";
export {
  backupJobId,
  backupJobVars,
  backupFileName,
  backupTime,
  choosePackageDataHost,
  repinJob,
  pinnedNode,
} from "./plan/package-data.js";
export { render } from "./commands/render.js";
export { buildImage, type ImageResult, type ImageOptions } from "./commands/image.js";
export { connectToCluster, type ClusterApis } from "./cluster/connect.js";

// clients, one per external system
export { NomadClient, type NomadClientOptions } from "./nomad/client.js";
export type * from "./nomad/types.js";
export {
  assessDeployment,
  isDeploymentActive,
  judgeWatch,
  summarizeJobPlan,
  explainAllocation,
  deploymentDeadlineMs,
  type DeploymentVerdict,
  type JobPlanSummary,
} from "./nomad/deployment.js";
export { watchDeployment } from "./nomad/watch.js";
export { renderTemplate, escapeHclString } from "./nomad/render.js";
export { renderServiceJob } from "./plan/jobs.js";
export { serviceJobVars, traefikTags } from "./plan/job-vars.js";
export { imageRef } from "./plan/registry.js";
export { consulServiceName } from "./plan/names.js";
export { planHosts, localAddress, type HostPlan, type PlannedHost } from "./plan/hosts.js";
export { prepareTerraform, inventoryFromOutputs } from "./cluster/terraform.js";
export { ConsulClient } from "./consul/client.js";
export { acquireLock, type HeldLock, type LockHolder } from "./consul/lock.js";
export { TraefikClient } from "./traefik/client.js";
export { verifyCanaryRoute, verifyHostnamesServe } from "./traefik/verify.js";
export {
  runProbe,
  startProbe,
  probeSettings,
  ProbeTally,
  failedRequests,
  formatProbeReport,
  workerHeader,
  versionHeader,
  type ProbeOptions,
  type ProbeHandle,
  type ProbeReport,
  type ProbeAnswer,
} from "./traefik/probe.js";
export * as ssh from "./ssh/index.js";
export * as ansible from "./ansible/index.js";
export { DockerClient } from "./docker/client.js";
export * as terraform from "./terraform/runner.js";
