/**
 * Argv builders for Terraform/OpenTofu. Pure: they return arguments and never run anything.
 * Every command that changes or reads infrastructure runs with `-input=false` (never prompt) and,
 * where the CLI offers it, `-json` so progress can be parsed line by line (see events.ts).
 */

/** Variables file elm-infra writes into the working directory; it never holds a secret. */
export const varFileName = "elm-infra.tfvars.json";

/** Plan file written by `plan` and consumed by `apply`. */
export const planFileName = "elm-infra.tfplan";

export function initArgs(options: { upgrade?: boolean } = {}): string[] {
  return ["init", "-input=false", "-no-color", ...(options.upgrade ? ["-upgrade"] : [])];
}

export interface PlanArgsOptions {
  planFile?: string;
  varFile?: string;
  /** Plan the destruction of everything instead of converging on the configuration. */
  destroy?: boolean;
  /** Only these resource addresses (and what they depend on): `-target=<address>` each. */
  targets?: readonly string[];
  /** false: plan against the state as recorded, without reading the resources again first. */
  refresh?: boolean;
}

/** Exit codes with -detailed-exitcode: 0 no changes, 1 error, 2 changes present. */
export function planArgs(options: PlanArgsOptions = {}): string[] {
  return [
    "plan",
    "-input=false",
    "-json",
    "-detailed-exitcode",
    `-out=${options.planFile ?? planFileName}`,
    `-var-file=${options.varFile ?? varFileName}`,
    ...(options.destroy ? ["-destroy"] : []),
    ...(options.refresh === false ? ["-refresh=false"] : []),
    ...(options.targets ?? []).map((t) => `-target=${t}`),
  ];
}

/** Applies exactly the saved plan: no new plan, no question. */
export function applyArgs(planFile: string = planFileName): string[] {
  return ["apply", "-input=false", "-json", planFile];
}

/** `destroy -json` requires -auto-approve: confirmation is the caller's job (CommandContext.confirm). */
export function destroyArgs(options: { varFile?: string } = {}): string[] {
  return [
    "destroy",
    "-input=false",
    "-json",
    "-auto-approve",
    `-var-file=${options.varFile ?? varFileName}`,
  ];
}

export function outputArgs(): string[] {
  return ["output", "-json"];
}

/** The raw state from the configured backend (local file or remote), as JSON on stdout. */
export function statePullArgs(): string[] {
  return ["state", "pull"];
}

/** The saved plan in the machine-readable plan representation. */
export function showPlanArgs(planFile: string = planFileName): string[] {
  return ["show", "-json", planFile];
}
