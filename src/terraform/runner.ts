/**
 * The Terraform/OpenTofu client: runs the CLI with execa in a per-target working directory and
 * turns its `-json` output into typed events. The only module here that starts processes.
 */
import { execa } from "execa";
import { chmod, copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OperationError } from "../errors.js";
import { redact, redactDeep, registerSecret } from "../output/redact.js";
import {
  applyArgs,
  destroyArgs,
  initArgs,
  outputArgs,
  planArgs,
  planFileName,
  showPlanArgs,
  statePullArgs,
  varFileName,
} from "./args.js";
import { backendFileName } from "./backend.js";
import type { TerraformBinary } from "./binary.js";
import {
  parseUiLine,
  summarizeDiagnostics,
  type Diagnostic,
  type TerraformEvent,
} from "./events.js";
import type { TfVarSet } from "./vars.js";

export interface TerraformRunnerOptions {
  binary: TerraformBinary;
  /** Holds the module's copy, the state, the plan and the var file; outside tracked files. */
  workDir: string;
  /** TF_VAR_ variables carrying secrets; their values are registered and redacted everywhere. */
  secretEnv?: Record<string, string>;
  /** CLI config file (provider mirror) for TF_CLI_CONFIG_FILE. */
  cliConfigFile?: string;
  /** Base environment; defaults to this process's. */
  env?: NodeJS.ProcessEnv;
  onEvent?: (event: TerraformEvent) => void;
  signal?: AbortSignal;
}

export interface ChangeCounts {
  add: number;
  change: number;
  remove: number;
}

export interface PlanResult {
  /** Path of the saved plan, for `apply`. */
  planFile: string;
  /** False when the infrastructure already matches (exit code 0 with -detailed-exitcode). */
  hasChanges: boolean;
  changes: ChangeCounts;
}

/** Where a target's Terraform state lives: .elm-infra/ next to cluster.yaml, git-ignored. */
export function workDirFor(root: string, targetName: string): string {
  return join(root, ".elm-infra", targetName, "terraform");
}

/** What the working directory holds besides the module's files and the state. */
const moduleFile = (f: string) => f.endsWith(".tf") || f.endsWith(".tftpl");

/**
 * Copies the module's files (.tf and the .tftpl templates they render) into the working directory,
 * dropping stale ones and keeping state and .terraform/. A generated backend.tf is written only
 * when given (the remote state backend); otherwise the state stays in the working directory.
 */
export async function prepareWorkDir(
  moduleDir: string,
  workDir: string,
  generated: { backend?: string } = {},
): Promise<void> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const sources = (await readdir(moduleDir)).filter(moduleFile);
  for (const stale of (await readdir(workDir)).filter(
    (f) => moduleFile(f) && !sources.includes(f),
  )) {
    await rm(join(workDir, stale));
  }
  for (const file of sources) await copyFile(join(moduleDir, file), join(workDir, file));
  if (generated.backend !== undefined) {
    await writeFile(join(workDir, backendFileName), generated.backend, { mode: 0o600 });
  }
}

/** Writes the var set `plan` and `destroy` read. It holds no secret; the file is 0600 anyway. */
export async function writeVarFile(workDir: string, varSet: TfVarSet): Promise<void> {
  const varFile = join(workDir, varFileName);
  await writeFile(varFile, `${JSON.stringify(varSet, null, 2)}\n`, { mode: 0o600 });
  await chmod(varFile, 0o600);
}

interface RunOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  diagnostics: Diagnostic[];
  changes?: ChangeCounts;
}

export class TerraformRunner {
  constructor(private readonly options: TerraformRunnerOptions) {
    // Terraform masks sensitive variables itself, but a provider's error may quote a request.
    for (const value of Object.values(options.secretEnv ?? {})) registerSecret(value);
  }

  get program(): string {
    return this.options.binary.program;
  }

  get workDir(): string {
    return this.options.workDir;
  }

  /** Installs the pinned providers (from the mirror when the CLI config names one) and the backend. */
  async init(): Promise<void> {
    const run = await this.run(initArgs(), { json: false });
    if (run.exitCode !== 0) throw this.failure("init", run);
  }

  /** `targets`: only these resources (and what they depend on), as `-target` does. */
  async plan(
    options: { destroy?: boolean; targets?: string[]; refresh?: boolean } = {},
  ): Promise<PlanResult> {
    const run = await this.run(
      planArgs({
        destroy: options.destroy,
        ...(options.targets ? { targets: options.targets } : {}),
        ...(options.refresh === false ? { refresh: false } : {}),
      }),
      { json: true },
    );
    if (run.exitCode !== 0 && run.exitCode !== 2) throw this.failure("plan", run);
    return {
      planFile: planFileName,
      hasChanges: run.exitCode === 2,
      changes: run.changes ?? { add: 0, change: 0, remove: 0 },
    };
  }

  /** Applies a saved plan, then deletes it: a plan file records the variables, secrets included. */
  async apply(planFile: string = planFileName): Promise<ChangeCounts> {
    try {
      const run = await this.run(applyArgs(planFile), { json: true });
      if (run.exitCode !== 0) throw this.failure("apply", run);
      return run.changes ?? { add: 0, change: 0, remove: 0 };
    } finally {
      await this.discardPlan(planFile);
    }
  }

  /** Deletes a saved plan that will not be applied. */
  async discardPlan(planFile: string = planFileName): Promise<void> {
    await rm(join(this.options.workDir, planFile), { force: true });
  }

  async destroy(): Promise<ChangeCounts> {
    const run = await this.run(destroyArgs(), { json: true });
    if (run.exitCode !== 0) throw this.failure("destroy", run);
    return run.changes ?? { add: 0, change: 0, remove: 0 };
  }

  /** The root module's outputs, name to value. Sensitive outputs are left out. */
  async outputs(): Promise<Record<string, unknown>> {
    const run = await this.run(outputArgs(), { json: false });
    if (run.exitCode !== 0) throw this.failure("output", run);
    const raw = JSON.parse(run.stdout || "{}") as Record<
      string,
      { value: unknown; sensitive?: boolean }
    >;
    return Object.fromEntries(
      Object.entries(raw)
        .filter(([, o]) => !o.sensitive)
        .map(([k, o]) => [k, o.value]),
    );
  }

  /** The raw state (version 4 JSON) from whichever backend holds it; undefined before any apply. */
  async pullState(): Promise<unknown> {
    const run = await this.run(statePullArgs(), { json: false });
    if (run.exitCode !== 0) throw this.failure("state pull", run);
    return run.stdout.trim() ? (JSON.parse(run.stdout) as unknown) : undefined;
  }

  /** The saved plan as Terraform's JSON plan representation (resource_changes, planned_values...). */
  async showPlan(planFile: string = planFileName): Promise<unknown> {
    const run = await this.run(showPlanArgs(planFile), { json: false });
    if (run.exitCode !== 0) throw this.failure("show", run);
    return JSON.parse(run.stdout) as unknown;
  }

  private environment(): NodeJS.ProcessEnv {
    return {
      ...(this.options.env ?? process.env),
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      // No version check against checkpoint-api.hashicorp.com: runs must work offline.
      CHECKPOINT_DISABLE: "1",
      ...(this.options.cliConfigFile ? { TF_CLI_CONFIG_FILE: this.options.cliConfigFile } : {}),
      ...this.options.secretEnv,
    };
  }

  private emit(event: TerraformEvent): void {
    this.options.onEvent?.(redactDeep(event));
  }

  private async run(args: string[], how: { json: boolean }): Promise<RunOutcome> {
    const subprocess = execa(this.options.binary.path, args, {
      cwd: this.options.workDir,
      env: this.environment(),
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      cancelSignal: this.options.signal,
      // Terraform stops cleanly on SIGINT (state saved, locks released); SIGKILL only if it hangs.
      killSignal: "SIGINT",
      forceKillAfterDelay: 60_000,
    });
    const diagnostics: Diagnostic[] = [];
    let changes: ChangeCounts | undefined;
    if (how.json) {
      for await (const line of subprocess.iterable({ from: "stdout" })) {
        const event = parseUiLine(line);
        if (!event) continue;
        if (event.kind === "diagnostic") diagnostics.push(event.diagnostic);
        if (event.kind === "change-summary")
          changes = { add: event.add, change: event.change, remove: event.remove };
        this.emit(event);
      }
    }
    const result = await subprocess;
    if (result.isCanceled) {
      throw new OperationError(
        `${this.program} ${args[0]} was interrupted`,
        "run the command again; the state was saved",
      );
    }
    return {
      exitCode: result.exitCode ?? 1,
      stdout: typeof result.stdout === "string" ? result.stdout : "",
      stderr: typeof result.stderr === "string" ? result.stderr : "",
      diagnostics,
      ...(changes ? { changes } : {}),
    };
  }

  private failure(command: string, run: RunOutcome): OperationError {
    const reason =
      summarizeDiagnostics(run.diagnostics) ||
      errorLines(`${run.stdout}\n${run.stderr}`) ||
      `exit code ${run.exitCode}`;
    return new OperationError(
      redact(`${this.program} ${command} failed: ${reason}`),
      failureHint(command, reason, this.options.workDir),
    );
  }
}

/**
 * Pure: what to do about a failed run. Providers that init cannot find are the tools not being
 * installed (a fresh clone or machine: the pinned providers come from the tool cache's mirror).
 */
export function failureHint(command: string, reason: string, workDir: string): string {
  if (
    command === "init" &&
    /(Failed to (query|resolve|install) (available )?provider packages?|Failed to install provider)/i.test(
      reason,
    )
  )
    return "the providers elm-infra pins are not installed here: run npm run tools (bash src/tools/install.sh), which puts them in ~/.cache/elm-infra; then run the command again";
  return `the working directory is ${workDir}; run with --verbose to see every step`;
}

/** The "Error: ..." lines of Terraform's human output (init has no -json on every version). */
export function errorLines(text: string): string {
  return text
    .split("\n")
    .map((l) => l.replace(/^[│╷╵\s]+/, "").trim())
    .filter((l) => l.startsWith("Error: "))
    .map((l) => l.slice("Error: ".length))
    .join("; ");
}
