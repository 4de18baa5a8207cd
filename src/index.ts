/** The elm-infra SDK: the same operations the CLI runs, typed, for scripts. */
export * from "./errors.js";
export * from "./config/schema.js";
export { loadConfig, readSecrets, writeSecrets, hostnamesOf, secretEnv, type LoadedConfig } from "./config/load.js";
export { parseCluster, parseSecrets, parseYaml } from "./config/parse.js";
export { parseServiceRef, isImageTag, type ServiceRef } from "./config/service-ref.js";
export { Output, chooseMode, type OutputEvent, type OutputMode } from "./output/output.js";
export { redact, registerSecret } from "./output/redact.js";
export { runSteps, type Step, type StepHandle } from "./tasks/runner.js";
export { createContext, type CommandContext, type GlobalOptions } from "./commands/context.js";
