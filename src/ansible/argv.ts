/** argv and environment for `ansible` and `ansible-playbook`. Pure: nothing here runs anything. */
import { playbookPath } from "./playbooks.js";

export interface AnsibleCommand {
  file: "ansible" | "ansible-playbook";
  args: string[];
  /** Added to the process environment. */
  env: Record<string, string>;
}

export interface AnsibleConnection {
  inventoryPath: string;
  privateKeyPath: string;
  /** known_hosts file shared with the ssh2 client: keys pinned by either are checked by both. */
  knownHostsPath: string;
  /** "accept-new" pins unknown hosts on first contact; "yes" refuses hosts not pinned yet. */
  hostKeyChecking?: "accept-new" | "yes";
  /** SSH connect timeout in seconds; default 15. */
  connectTimeoutSeconds?: number;
  /** Parallel hosts; default Ansible's (5). */
  forks?: number;
}

export interface PlaybookOptions extends AnsibleConnection {
  playbookPath: string;
  limit?: string;
  tags?: string[];
  extraVars?: Record<string, unknown>;
  /** JSON or YAML files of variables, passed as `--extra-vars @file` (after extraVars). */
  extraVarsFiles?: string[];
  /**
   * Added to ansible-playbook's environment: how secrets reach the playbook (read there with
   * lookup('env')), never through argv or a variables file.
   */
  env?: Record<string, string>;
  check?: boolean;
  /** 0-4 `-v`s. */
  verbosity?: number;
  /** Facts of each host are written here as JSON files named after the host. */
  factCacheDir?: string;
}

export interface AdHocOptions extends AnsibleConnection {
  pattern: string;
  module: string;
  moduleArgs?: string;
}

export function buildPlaybookCommand(options: PlaybookOptions): AnsibleCommand {
  const args = [...connectionArgs(options)];
  if (options.limit) args.push("--limit", options.limit);
  if (options.tags?.length) args.push("--tags", options.tags.join(","));
  if (options.extraVars && Object.keys(options.extraVars).length > 0)
    args.push("--extra-vars", JSON.stringify(options.extraVars));
  for (const file of options.extraVarsFiles ?? []) args.push("--extra-vars", `@${file}`);
  if (options.check) args.push("--check");
  const verbosity = Math.min(Math.max(options.verbosity ?? 0, 0), 4);
  if (verbosity > 0) args.push(`-${"v".repeat(verbosity)}`);
  args.push(options.playbookPath);
  const env = {
    ...ansibleEnv(options.factCacheDir),
    // Progress as JSON lines from our callback plugin (events.ts reads them).
    ANSIBLE_CALLBACK_PLUGINS: playbookPath("callback_plugins"),
    ANSIBLE_STDOUT_CALLBACK: "elm_infra_jsonl",
    ...options.env,
  };
  return { file: "ansible-playbook", args, env };
}

export function buildAdHocCommand(options: AdHocOptions): AnsibleCommand {
  const args = [options.pattern, ...connectionArgs(options), "--module-name", options.module];
  if (options.moduleArgs) args.push("--args", options.moduleArgs);
  return { file: "ansible", args, env: ansibleEnv(undefined) };
}

function connectionArgs(c: AnsibleConnection): string[] {
  const sshOptions = [
    `-o UserKnownHostsFile=${shellQuote(c.knownHostsPath)}`,
    `-o StrictHostKeyChecking=${c.hostKeyChecking ?? "accept-new"}`,
    "-o IdentitiesOnly=yes",
    "-o PasswordAuthentication=no",
    // The pinned file is shared with ssh2, which looks hosts up by name: keep OpenSSH from
    // adding a second, IP-keyed line per host.
    "-o CheckHostIP=no",
  ];
  const args = [
    "--inventory",
    c.inventoryPath,
    "--private-key",
    c.privateKeyPath,
    "--ssh-common-args",
    sshOptions.join(" "),
  ];
  args.push("--timeout", String(c.connectTimeoutSeconds ?? 15));
  if (c.forks !== undefined) args.push("--forks", String(c.forks));
  return args;
}

function ansibleEnv(factCacheDir: string | undefined): Record<string, string> {
  const env: Record<string, string> = {
    // Host keys are checked through the ssh options above; Ansible must not turn them off.
    ANSIBLE_HOST_KEY_CHECKING: "True",
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_FORCE_COLOR: "0",
    ANSIBLE_RETRY_FILES_ENABLED: "0",
    // Modules run over the SSH session's stdin instead of copied files: fewer round trips.
    ANSIBLE_PIPELINING: "True",
    ANSIBLE_DEPRECATION_WARNINGS: "0",
    PYTHONUNBUFFERED: "1",
  };
  if (factCacheDir) {
    env.ANSIBLE_CACHE_PLUGIN = "jsonfile";
    env.ANSIBLE_CACHE_PLUGIN_CONNECTION = factCacheDir;
  }
  return env;
}

/** Quotes for the POSIX-shell-like splitting Ansible applies to --ssh-common-args. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_/.:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'"'"'`)}'`;
}
