import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastResortLine } from "../../../src/cli/run.js";
import { forgetSecrets, registerSecret } from "../../../src/output/redact.js";
import { cliPath as cli, ensureBuilt } from "../../harness/cli.js";
import { repo, runInProcess, type CliRun } from "../../support/cli.js";

// These tests run the CLI's entry function in process, on the current source, as a user would in
// a folder holding a copy of cluster.yaml, and assert what they see: exit code, stdout, stderr.
// A few start the built entry point (dist/cli/main.js, rebuilt when the source is newer): what
// only a process shows (its heap limit, the modules it loads, a pipe that closes early).
const commands = [
  "bring-up",
  "deploy",
  "scale",
  "rollback",
  "status",
  "destroy",
  "render",
  "image",
];

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "elm-infra-cli-"));
  await copyFile(join(repo, "cluster.yaml"), join(work, "cluster.yaml"));
  await writeFile(join(work, "broken.yaml"), "targets:\n  local:\n    provider: local: oops\n");
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

type Run = CliRun;

/** Runs the CLI in a temp dir holding a copy of cluster.yaml, with no ELM_INFRA_* or token variables. */
async function run(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  return runInProcess(args, { cwd: options.cwd ?? work, env: options.env ?? {} });
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "");
// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[/;

describe("help", () => {
  it("--help exits 0 and shows the commands, examples and exit codes", async () => {
    const r = await run(["--help"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Usage: elm-infra");
    for (const command of commands) expect(r.stdout).toContain(command);
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toContain(
      "Exit codes: 0 success, 1 operation failed, 2 usage or configuration error,",
    );
    expect(r.stdout).toContain("4 not implemented yet, 130 interrupted");
    expect(r.stderr).toBe("");
  });

  it.each(commands)("%s --help shows its examples and the global options", async (command) => {
    const r = await run([command, "--help"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`Usage: elm-infra ${command}`);
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toMatch(new RegExp(`\\$ elm-infra ${command} `));
    expect(r.stdout).toContain("--target <name>");
  });

  it("no arguments prints help on stderr and exits 2", async () => {
    const r = await run([]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Usage: elm-infra");
  });
});

describe("no command", () => {
  it("options without a command exit 2 like no arguments at all", async () => {
    const r = await run(["--verbose"]);
    expect(r.stderr).toContain("Usage: elm-infra");
    expect(r.exitCode).toBe(2);
  });

  it("with --json, no command is a JSON error event", async () => {
    const r = await run(["--json"]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      type: "error",
      exitCode: 2,
      message: "no command given",
    });
  });
});

describe("usage errors exit 2 with a message", () => {
  it.each([
    [["bogus"], "error: unknown command 'bogus'"],
    [["--bogus"], "error: unknown option '--bogus'"],
    [["scale", "--replicas", "3"], "error: unknown option '--replicas'"],
    [["scale", "--workers", "three"], "--workers takes a whole number, for example --workers 3"],
    [["deploy"], "error: missing required argument 'service@version'"],
    [["deploy", "elm-lang.org@1.0", "extra"], "error: too many arguments for 'deploy'"],
    [["--target"], "argument missing"],
  ])("%j", async (args, message) => {
    const r = await run(args);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });
});

describe("a usage error says what to type instead", () => {
  it.each([
    [["deploy"], "hint: type for example: elm-infra deploy elm-lang.org@1.4.2 --yes", "deploy"],
    [["status", "--bogus"], "hint: type for example: elm-infra status", "status"],
    [["rollback"], "hint: type for example: elm-infra rollback elm-lang.org --yes", "rollback"],
    [
      ["scale", "--workers", "x"],
      "hint: type for example: elm-infra scale --workers 3 --yes",
      "scale",
    ],
  ])("%j", async (args, hint, command) => {
    const r = await run(args);
    expect(r.exitCode).toBe(2);
    const err = lines(r.stderr);
    expect(err.slice(1)).toEqual([
      hint,
      `(run 'elm-infra ${command} --help' for its options and more examples)`,
    ]);
  });

  it("a misspelt command is named and the right one suggested", async () => {
    const r = await run(["depoly", "elm-lang.org@1.4.2"]);
    expect(r.exitCode).toBe(2);
    expect(lines(r.stderr)).toEqual([
      "error: unknown command 'depoly'",
      "(Did you mean deploy?)",
      "(run 'elm-infra --help' for the commands, their options and examples)",
    ]);
  });

  it("help read by a pipe that closes early is not a crash", async () => {
    await ensureBuilt();
    const r = await execa("sh", ["-c", `node ${JSON.stringify(cli)} --help | head -n 1`], {
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("Usage: elm-infra [options] [command]");
    expect(r.stderr).not.toContain("EPIPE");
  });
});

describe("a hostile version is refused before anything else happens", () => {
  const hostile = [
    "1.0;rm -rf /",
    "$(id)",
    "`id`",
    "${var}",
    '1"',
    "1'",
    "1\nrm",
    "%{x}",
    "a b",
    "latest",
    "",
    "-rf",
    ".hidden",
    "１.0",
    "a".repeat(129),
  ];

  it.each(hostile)("deploy elm-lang.org@%j: exit 2, only the error on stderr", async (version) => {
    const r = await run(["deploy", `elm-lang.org@${version}`, "--target", "local"]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    const err = lines(r.stderr);
    expect(err[0]).toMatch(/^error: invalid version "/);
    expect(err.slice(1)).toEqual([
      "hint: type for example: elm-lang.org@1.4.2",
      "(run with --help for usage)",
    ]);
  });

  it.each(hostile.slice(0, 4))(
    "--json deploy elm-lang.org@%j: exactly one JSON error event",
    async (version) => {
      const r = await run(["deploy", `elm-lang.org@${version}`, "--json"]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe("");
      expect(lines(r.stdout)).toHaveLength(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        type: "error",
        exitCode: 2,
        error: "UsageError",
        message: expect.stringMatching(/^invalid version/),
      });
    },
  );

  it("an unknown service lists the known ones", async () => {
    const r = await run(["deploy", "wiki.elm-lang.org@1.0"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('error: unknown service "wiki.elm-lang.org"');
    expect(r.stderr).toContain("known services: elm-lang.org, package.elm-lang.org");
  });
});

describe("render ingress", () => {
  it("renders Traefik's system job at the pinned version by default", async () => {
    const r = await run(["render", "ingress", "--config", join(repo, "cluster.yaml")]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^job "ingress" \{$/m);
    expect(r.stdout).toContain('type        = "system"');
    expect(r.stdout).toContain('image        = "10.213.0.5:5000/traefik:v3.6.12"');
  });

  it("takes another Traefik version, with or without its 'v'", async () => {
    for (const version of ["3.7.0", "v3.7.0"]) {
      const r = await run(["render", `ingress@${version}`, "--config", join(repo, "cluster.yaml")]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('image        = "10.213.0.5:5000/traefik:v3.7.0"');
    }
  });

  it("refuses a hostile Traefik version; deploying it needs a brought-up target", async () => {
    const bad = await run(["render", "ingress@3.6;id"]);
    expect(bad.exitCode).toBe(2);
    expect(lines(bad.stderr)[0]).toMatch(/^error: invalid version "3\.6;id"/);
    const deploy = await run(["deploy", "ingress@3.6.12"]);
    expect(deploy.exitCode).toBe(2);
    expect(lines(deploy.stderr)[1]).toMatch(
      /cluster\.yaml: targets\.local: has no workers recorded$/,
    );
  });
});

describe("commands not built yet", () => {
  it.each([
    // bring-up, destroy and scale are built (they run OpenTofu: the e2e test proves them).
    ["deploy", "elm-lang.org@1.4.2"],
    ["rollback", "elm-lang.org"],
    ["rollback", "elm-lang.org@1.4.1"],
  ])("%s: whatever is missing says so and exits 4", async (...args) => {
    // A command (or the part of it that is missing) says what is not built, never pretends to
    // succeed. Commands built since by others may get further or fail otherwise: skip those.
    const r = await run(args);
    if (r.exitCode !== 4) return;
    const err = lines(r.stderr);
    expect(err).toHaveLength(2);
    expect(err[0]).toMatch(/^error: .+ is not implemented yet$/);
    expect(err[1]).toBe("hint: the README's Commands table says what works today");
    expect(r.stdout).toBe("");
  });
});

describe("scale's refusals before anything is touched", () => {
  it.each([
    [[], /^error: scale needs --managers, --workers or both$/],
    [["--managers", "2"], /^error: cannot scale target local to 2 managers: .*odd number/],
    [["--managers", "0"], /^error: cannot scale target local to 0 managers/],
    [["--workers", "0"], /^error: cannot scale target local to 0 workers/],
  ])("scale %j exits 2 and says why", async (args, message) => {
    const r = await run(["scale", "--target", "local", ...args]);
    expect(r.exitCode).toBe(2);
    expect(lines(r.stderr)[0]).toMatch(message);
  });

  it("replace of a host the target does not have exits 2", async () => {
    const r = await run(["replace", "local-worker-9", "--target", "local"]);
    expect(r.exitCode).toBe(2);
  });

  it.each(["3d", "0s", "3h", "soon", "-5m"])("--lock-wait %s is refused (exit 2)", async (v) => {
    const r = await run(["scale", "--workers", "3", "--target", "local", "--lock-wait", v]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--lock-wait takes a duration from 1s to 2h");
  });
});

describe("--json", () => {
  it("every stdout line is JSON and the error event carries the exit code", async () => {
    const r = await run(["scale", "--target", "local", "--json", "--managers", "2"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("");
    const events = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1)).toEqual({
      type: "error",
      exitCode: 2,
      error: "UsageError",
      message: expect.stringMatching(/^cannot scale target local to 2 managers/),
      hint: "use --managers 1 or 3",
    });
  });

  it("a configuration error is one JSON event with exit code 2", async () => {
    const r = await run(["scale", "--json", "--config", "broken.yaml"]);
    expect(r.exitCode).toBe(2);
    const events = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "error", exitCode: 2, error: "ConfigError" });
    expect(events[0]!.message).toContain(`${join(work, "broken.yaml")}:3:20: YAML syntax error`);
  });

  it("an unknown command is a JSON error event too", async () => {
    const r = await run(["bogus", "--json"]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(lines(r.stdout)[0] ?? "")).toMatchObject({ type: "error", exitCode: 2 });
  });
});

describe("plain output without a terminal", () => {
  it.each([
    [["scale", "--target", "local"]],
    [["deploy", "elm-lang.org@$(id)"]],
    [["--help"]],
    [["bogus"]],
    [["scale", "--config", "broken.yaml"]],
  ])("%j prints no ANSI escape codes", async (args) => {
    const r = await run(args, { env: { FORCE_COLOR: "0" } });
    expect(r.stdout).not.toMatch(ansi);
    expect(r.stderr).not.toMatch(ansi);
    expect(r.stdout + r.stderr).not.toBe("");
  });
});

describe("choosing a target", () => {
  it("--target nope exits 2 and lists the known targets", async () => {
    const r = await run(["scale", "--target", "nope"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`error: unknown target "nope" in ${join(work, "cluster.yaml")}`);
    expect(r.stderr).toContain("hint: known targets: local, dev, production");
  });

  it("ELM_INFRA_TARGET is honoured", async () => {
    const r = await run(["scale"], { env: { ELM_INFRA_TARGET: "nope" } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('unknown target "nope"');
  });

  it("--target wins over ELM_INFRA_TARGET", async () => {
    const r = await run(["scale", "--target", "local", "--managers", "2"], {
      env: { ELM_INFRA_TARGET: "nope" },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("cannot scale target local to 2 managers");
  });
});

describe("names that mean something to JavaScript objects are names like any other", () => {
  it.each([
    [["deploy", "constructor@1.0.0", "--target", "local"], 'unknown service "constructor"'],
    [["render", "__proto__@1"], 'unknown service "__proto__"'],
    [["rollback", "hasOwnProperty", "--target", "local"], 'unknown service "hasOwnProperty"'],
    [["image", "toString@1", "--context", "."], 'unknown service "toString"'],
    [["status", "toString", "--target", "local"], 'unknown service "toString"'],
  ])("%j: exit 2, the known services listed", async (args, message) => {
    const r = await run(args);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)[0]).toBe(`error: ${message}`);
    expect(r.stderr).toContain("known services: elm-lang.org, package.elm-lang.org");
  });

  it.each(["__proto__", "constructor", "toString", "hasOwnProperty"])(
    "--target %s: exit 2, the known targets listed",
    async (target) => {
      for (const args of [
        ["status", "--target", target],
        ["render", "elm-lang.org@1", "--target", target],
      ]) {
        const r = await run(args);
        expect(r.exitCode).toBe(2);
        expect(r.stderr).toContain(`error: unknown target "${target}" in `);
        expect(r.stderr).toContain("hint: known targets: local, dev, production");
      }
    },
  );

  it("a control character in a typed name is escaped, a long one cut", async () => {
    const r = await run(["render", `\u001b[2J${"x".repeat(100)}@1`]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).not.toContain("\u001b[2J");
    expect(lines(r.stderr)[0]).toBe(`error: unknown service "\\u001b[2J${"x".repeat(56)}…"`);
  });
});

describe("a configuration built to expand exponentially", () => {
  it("is refused before it is expanded: exit 2, a clear message, in 64 MB of heap", async () => {
    const lol = ['a0: &a0 "lol"'];
    for (let i = 1; i <= 12; i++) lol.push(`a${i}: &a${i} [${`*a${i - 1}, `.repeat(8)}*a${i - 1}]`);
    await writeFile(join(work, "laughs.yaml"), `${lol.join("\n")}\n`);
    await ensureBuilt();
    const r = await execa(
      "node",
      ["--max-old-space-size=64", cli, "render", "elm-lang.org@1", "--config", "laughs.yaml"],
      { cwd: work, reject: false, stdin: "ignore", timeout: 30_000 },
    );
    expect(r.exitCode).toBe(2);
    expect(lines(r.stderr)).toEqual([
      "error: invalid configuration:",
      `  ${join(work, "laughs.yaml")}: its aliases (*name) expand to more than 100000 nodes; a YAML file built to expand exponentially is refused before it is read`,
      "hint: write the repeated parts out, or use fewer nested aliases",
    ]);
  });
});

describe("starting loads only what the command needs", () => {
  beforeAll(() => ensureBuilt(), 180_000);
  const recorder = join(repo, "test/support/module-log/register.mjs");
  /** The packages (and dist/ modules) a CLI run loaded through the module loader. */
  async function loadedBy(args: string[]): Promise<{ exitCode: number; loaded: Set<string> }> {
    const log = join(work, `modules-${Math.random().toString(36).slice(2)}.log`);
    const r = await execa("node", ["--import", recorder, cli, ...args], {
      cwd: work,
      reject: false,
      stdin: "ignore",
      env: { ELM_INFRA_MODULE_LOG: log },
      timeout: 30_000,
    });
    const urls = (await readFile(log, "utf8")).split("\n").filter(Boolean);
    const loaded = new Set(
      urls.map(
        (u) =>
          /\/node_modules\/((@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? u.replace(/^.*\/dist\//, "dist/"),
      ),
    );
    return { exitCode: r.exitCode ?? -1, loaded };
  }
  const heavy = ["dockerode", "ssh2", "undici", "execa", "listr2"];

  it.each([
    [["--help"], 0],
    [["deploy"], 2],
    [["deploy", "--nope"], 2],
    [
      ["render", "elm-lang.org@1.4.2", "--target", "local", "--config", join(repo, "cluster.yaml")],
      0,
    ],
  ])("%j loads none of dockerode, ssh2, undici, execa, listr2", async (args, exitCode) => {
    const run = await loadedBy(args);
    expect(run.exitCode).toBe(exitCode);
    expect(run.loaded).toContain("commander");
    for (const name of heavy) expect(run.loaded).not.toContain(name);
  });

  it("--help reads no configuration: no zod, js-yaml or command module", async () => {
    const { loaded } = await loadedBy(["--help"]);
    for (const name of ["zod", "js-yaml", "handlebars"]) expect(loaded).not.toContain(name);
    expect([...loaded].filter((m) => m.startsWith("dist/commands/"))).toEqual([]);
  });

  it("the recorder sees the heavy clients when a command needs them", async () => {
    const run = await loadedBy(["image", "elm-lang.org@1.4.2", "--context", "."]);
    expect(run.exitCode).toBe(2); // no images/ folder here: refused after loading its module
    expect(run.loaded).toContain("dockerode");
    expect(run.loaded).toContain("undici"); // the registry's API (credentials, manifests)
  });
});

describe("configuration problems", () => {
  it("a broken cluster.yaml via --config exits 2 with file:line:column", async () => {
    const r = await run(["scale", "--config", "broken.yaml"]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toEqual([
      "error: invalid configuration:",
      `  ${join(work, "broken.yaml")}:3:20: YAML syntax error: bad indentation of a mapping entry`,
      "hint: fix the YAML syntax at that line and run again",
    ]);
  });

  it("ELM_INFRA_CONFIG points at cluster.yaml too", async () => {
    const r = await run(["scale"], { env: { ELM_INFRA_CONFIG: "broken.yaml" } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("broken.yaml:3:20: YAML syntax error");
  });

  it("no cluster.yaml says how to point at one", async () => {
    const empty = await mkdtemp(join(tmpdir(), "elm-infra-cli-empty-"));
    try {
      const r = await run(["scale"], { cwd: empty });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain("cluster.yaml: cannot read the file");
      expect(r.stderr).toContain(
        "hint: run from the repository root or pass --config <path to cluster.yaml>",
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("a secrets file readable by others is refused with the chmod hint", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-cli-secrets-"));
    try {
      await copyFile(join(repo, "cluster.yaml"), join(dir, "cluster.yaml"));
      await mkdir(join(dir, "secrets"));
      await writeFile(
        join(dir, "secrets/local.yaml"),
        "nomadToken: 3f1c9a2e-7b4d-4e8a-9c1f-2d5b6a7e8f90\n",
      );
      await chmod(join(dir, "secrets/local.yaml"), 0o644);
      const r = await run(["scale", "--target", "local"], { cwd: dir });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain("mode is 644; secrets must be readable by you only");
      expect(r.stderr).toContain("hint: run: chmod 600 secrets/local.yaml");
      expect(r.stderr).not.toContain("3f1c9a2e");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a malformed token from the environment is named, its value never printed", async () => {
    const value = "leaky-nomad-token-value";
    for (const args of [["scale"], ["scale", "--json"]]) {
      const r = await run(args, { env: { NOMAD_TOKEN: value } });
      expect(r.exitCode).toBe(2);
      expect(r.stdout + r.stderr).toContain("NOMAD_TOKEN: must be a Nomad ACL secret ID");
      expect(r.stdout + r.stderr).not.toContain(value);
    }
  });
});

describe("an error that escapes the CLI itself (main.ts's last resort)", () => {
  it("is one error line without terminal control sequences or secrets", () => {
    registerSecret("hunter2-escaped-secret");
    try {
      const line = lastResortLine(
        new Error(`\u001b]0;pwned\u0007boom \u001b[31mred\u001b[0m\u009b2J hunter2-escaped-secret`),
      );
      expect(line).toBe("error: Error: boom red [redacted]\n");
    } finally {
      forgetSecrets();
    }
  });
});
