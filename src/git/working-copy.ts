import { execa } from "execa";

/**
 * What the ledger asks of the working copy elm-infra runs in: the git identity and the commit.
 * Each question is bounded (5 s) and a folder that is not a git checkout, or a machine without
 * git, answers "nothing" rather than failing.
 */
async function git(dir: string, args: string[]): Promise<string | undefined> {
  const r = await execa("git", ["-C", dir, ...args], {
    reject: false,
    stdin: "ignore",
    timeout: 5000,
    env: { GIT_TERMINAL_PROMPT: "0" },
  });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

/** `git config user.name` and `user.email`, as git resolves them for that folder. */
export async function gitIdentity(dir: string): Promise<{ name?: string; email?: string }> {
  const [name, email] = await Promise.all([
    git(dir, ["config", "user.name"]),
    git(dir, ["config", "user.email"]),
  ]);
  return { ...(name ? { name } : {}), ...(email ? { email } : {}) };
}

/** HEAD's commit, and whether `git status --porcelain` lists any change; undefined outside git. */
export async function gitCommit(dir: string): Promise<{ sha: string; dirty: boolean } | undefined> {
  const sha = await git(dir, ["rev-parse", "HEAD"]);
  if (!sha || !/^[0-9a-f]{40,64}$/.test(sha)) return undefined;
  const status = await git(dir, ["status", "--porcelain"]);
  return { sha, dirty: status === undefined || status !== "" };
}
