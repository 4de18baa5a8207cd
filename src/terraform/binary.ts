/** Which program runs the iac modules: OpenTofu or Terraform, from elm-infra's cache or PATH. */
import { access, constants } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { OperationError } from "../errors.js";

export type TerraformProgram = "tofu" | "terraform";
export type BinaryChoice = TerraformProgram | "auto";

export interface TerraformBinary {
  program: TerraformProgram;
  path: string;
}

/** elm-infra's tool cache, the same folder src/tools/install.sh fills. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ELM_INFRA_CACHE ?? join(homedir(), ".cache", "elm-infra");
}

/** Folders searched for a program, in order: the tool cache's bin, then PATH. */
export function searchDirs(cacheDir: string, path: string | undefined): string[] {
  return [join(cacheDir, "bin"), ...(path ?? "").split(delimiter).filter((d) => d !== "")];
}

/** `auto` prefers OpenTofu: it is what elm-infra builds and tests against. */
export function chooseBinary(
  choice: BinaryChoice,
  found: Partial<Record<TerraformProgram, string>>,
): TerraformBinary | undefined {
  const order: TerraformProgram[] = choice === "auto" ? ["tofu", "terraform"] : [choice];
  for (const program of order) {
    const path = found[program];
    if (path) return { program, path };
  }
  return undefined;
}

async function isExecutable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function locate(program: TerraformProgram, dirs: string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const file = join(dir, program);
    if (await isExecutable(file)) return file;
  }
  return undefined;
}

export async function findBinary(
  choice: BinaryChoice,
  options: { cacheDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<TerraformBinary> {
  const env = options.env ?? process.env;
  const dirs = searchDirs(options.cacheDir ?? toolCacheDir(env), env.PATH);
  const found: Partial<Record<TerraformProgram, string>> = {};
  for (const program of ["tofu", "terraform"] as const) {
    const path = await locate(program, dirs);
    if (path) found[program] = path;
  }
  const binary = chooseBinary(choice, found);
  if (!binary) {
    const wanted = choice === "auto" ? "tofu or terraform" : choice;
    throw new OperationError(
      `${wanted} was not found in ${dirs[0]} or on PATH`,
      "run: bash src/tools/install.sh --only tools (or set terraform.binary in cluster.yaml to a program you have)",
    );
  }
  return binary;
}

/**
 * The CLI config OpenTofu runs with: the operator's own TF_CLI_CONFIG_FILE when set (a user with
 * internet access may install a 2.x DigitalOcean provider from the registry that way), else the one
 * install.sh writes (a filesystem mirror of the pinned providers), if present.
 */
export async function findCliConfig(
  cacheDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (env.TF_CLI_CONFIG_FILE) return env.TF_CLI_CONFIG_FILE;
  const file = join(cacheDir, "terraformrc");
  return access(file, constants.R_OK).then(
    () => file,
    () => undefined,
  );
}
