/**
 * Careless input without a cluster (issue 19): files that are not what a user meant to name (a
 * device, a FIFO, a huge file, a directory, a symlink out, a template outside jobs/), refusals
 * that must leave no file behind, a standard output that is closed or full, and the messages that
 * used to mislead. The file cases run the built entry point as a child and measure it: each ends
 * with exit 2 and its message in bounded time and memory, and the project folder is as it was.
 */
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFactCache } from "../../../src/ansible/facts.js";
import {
  acquireOperationsLock,
  operationsLockPaths,
} from "../../../src/cluster/operations-lock.js";
import { loadConfig } from "../../../src/config/load.js";
import { FileRefusedError } from "../../../src/errors.js";
import { readPendingTrust } from "../../../src/tasks/bring-up.js";
import { cliPath, ensureBuilt } from "../../harness/cli.js";
import { folderTree, repo, runInProcess, spawnCli } from "../../support/cli.js";

const MB = 1024 * 1024;
/** Far below the 4 GB huge files: the CLI never reads them. Node itself takes about 60 MB. */
const memoryBound = 200 * MB;
/** Generous: a refusal is a few milliseconds of work; a blocked read would never end. */
const timeBound = 15_000;

let work: string;
beforeAll(async () => {
  await ensureBuilt();
  work = await mkdtemp(join(tmpdir(), "elm-infra-careless-"));
}, 180_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let projects = 0;
/** A project folder of its own: cluster.yaml (as changed) and a copy of jobs/. */
async function project(clusterText?: (text: string) => string): Promise<string> {
  const dir = join(work, `project-${++projects}`);
  await mkdir(dir);
  const text = await readFile(join(repo, "cluster.yaml"), "utf8");
  await writeFile(join(dir, "cluster.yaml"), clusterText ? clusterText(text) : text);
  await cp(join(repo, "jobs"), join(dir, "jobs"), { recursive: true });
  return dir;
}

const sparse = (file: string, size: string) => execFileSync("truncate", ["-s", size, file]);
const fifo = (file: string, mode = "644") => execFileSync("mkfifo", ["-m", mode, file]);
const withJob = (job: string) => (t: string) =>
  t.replace("job: jobs/elm-lang.org.nomad.hbs", `job: ${job}`);
const render = ["render", "elm-lang.org@1.0.0"];

interface FileCase {
  name: string;
  clusterText?: (text: string) => string;
  /** Makes the hostile file in the project; returns the arguments that name it. */
  prepare: (dir: string) => Promise<string[]>;
  message: RegExp;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A file of the target's state (.elm-infra/local/<file>) that a command reads made a FIFO, a
 * directory and a 4 GB sparse file: each refused unread, with what it is and the limit.
 */
function stateFileCases(file: string, args: string[], what: string, limit: string): FileCase[] {
  const path = async (dir: string) => {
    await mkdir(join(dir, ".elm-infra/local"), { recursive: true });
    return join(dir, ".elm-infra/local", file);
  };
  const named = `\\.elm-infra/local/${escaped(file)}: `;
  const kinds: Array<[string, (path: string) => unknown, string]> = [
    [
      "a FIFO (must not block)",
      (p) => fifo(p, "600"),
      `is a pipe \\(FIFO\\), not a regular file; a ${what} must be a file`,
    ],
    [
      "a directory",
      (p) => mkdir(p),
      `is a directory, not a regular file; a ${what} must be a file`,
    ],
    [
      "of 4 GB (sparse)",
      (p) => sparse(p, "4G"),
      `is larger than ${limit}; a ${what} is refused past that`,
    ],
  ];
  return kinds.map(([kind, make, says]) => ({
    name: `${args.join(" ")} with ${file} ${kind}`,
    prepare: async (dir) => {
      await make(await path(dir));
      return args;
    },
    message: new RegExp(named + says),
  }));
}

const fileCases: FileCase[] = [
  ...stateFileCases("inventory.json", ["render", "ingress@3.6.12"], "host inventory", "4 MB"),
  ...stateFileCases("ca.pem", ["probe", "elm-lang.org"], "CA certificates file", "1 MB"),
  {
    name: "--config /dev/zero (a device that never ends)",
    prepare: async () => [...render, "--config", "/dev/zero"],
    message: /\/dev\/zero: is a device, not a regular file; a configuration file must be a file/,
  },
  {
    name: "--config /dev/urandom",
    prepare: async () => [...render, "--config", "/dev/urandom"],
    message: /\/dev\/urandom: is a device, not a regular file/,
  },
  {
    name: "--config a FIFO no one writes (must not block)",
    prepare: async (dir) => {
      fifo(join(dir, "fifo.yaml"));
      return [...render, "--config", "fifo.yaml"];
    },
    message:
      /fifo\.yaml: is a pipe \(FIFO\), not a regular file[\s\S]*hint: a pipe can be read only once/,
  },
  {
    name: "--config a 4 GB sparse file (refused by size, never read)",
    prepare: async (dir) => {
      sparse(join(dir, "huge.yaml"), "4G");
      return [...render, "--config", "huge.yaml"];
    },
    message: /huge\.yaml: is larger than 1 MB; a configuration file is refused past that/,
  },
  {
    name: "--config a directory",
    prepare: async (dir) => {
      await mkdir(join(dir, "folder.yaml"));
      return [...render, "--config", "folder.yaml"];
    },
    message: /folder\.yaml: is a directory, not a regular file/,
  },
  {
    name: "--config a symlink to /dev/zero",
    prepare: async (dir) => {
      await symlink("/dev/zero", join(dir, "link.yaml"));
      return [...render, "--config", "link.yaml"];
    },
    message: /link\.yaml: is a device, not a regular file/,
  },
  {
    name: "a secrets file that is a FIFO (mode 600)",
    prepare: async (dir) => {
      await mkdir(join(dir, "secrets"));
      fifo(join(dir, "secrets/local.yaml"), "600");
      return [...render];
    },
    message:
      /secrets\/local\.yaml: is a pipe \(FIFO\), not a regular file; a secrets file must be a file/,
  },
  {
    name: "a secrets file of 4 GB (sparse, mode 600)",
    prepare: async (dir) => {
      await mkdir(join(dir, "secrets"));
      sparse(join(dir, "secrets/local.yaml"), "4G");
      await chmod(join(dir, "secrets/local.yaml"), 0o600);
      return [...render];
    },
    message: /secrets\/local\.yaml: is larger than 64 kB; a secrets file is refused past that/,
  },
  {
    name: "a job template outside jobs/ (/etc/passwd)",
    clusterText: withJob("/etc/passwd"),
    prepare: async () => [...render],
    message: /\/etc\/passwd: is outside the jobs\/ folder; job templates are read only from there/,
  },
  {
    name: "a job template in jobs/ that is a symlink out of it",
    clusterText: withJob("jobs/evil.nomad.hbs"),
    prepare: async (dir) => {
      await symlink("/etc/hostname", join(dir, "jobs/evil.nomad.hbs"));
      return [...render];
    },
    message: /jobs\/evil\.nomad\.hbs: is outside the jobs\/ folder \(it leads to \/etc\/hostname\)/,
  },
  {
    name: "a job template that climbs out with ../",
    clusterText: withJob("jobs/../cluster.yaml"),
    prepare: async () => [...render],
    message: /cluster\.yaml: is outside the jobs\/ folder/,
  },
  {
    name: "a job template that is a FIFO",
    clusterText: withJob("jobs/fifo.nomad.hbs"),
    prepare: async (dir) => {
      fifo(join(dir, "jobs/fifo.nomad.hbs"));
      return [...render];
    },
    message:
      /jobs\/fifo\.nomad\.hbs: is a pipe \(FIFO\), not a regular file; a job template must be a file/,
  },
  {
    name: "a job template of 4 GB",
    clusterText: withJob("jobs/huge.nomad.hbs"),
    prepare: async (dir) => {
      sparse(join(dir, "jobs/huge.nomad.hbs"), "4G");
      return [...render];
    },
    message: /jobs\/huge\.nomad\.hbs: is larger than 256 kB; a job template is refused past that/,
  },
  {
    name: "a job template in jobs/ that is not one (no job block)",
    clusterText: withJob("jobs/notes.nomad.hbs"),
    prepare: async (dir) => {
      await writeFile(join(dir, "jobs/notes.nomad.hbs"), "secret notes {{x}}\n");
      return [...render];
    },
    message: /jobs\/notes\.nomad\.hbs: is not a job template: it has no job "<name>" \{ block/,
  },
  {
    name: "a file in jobs/ not named .nomad.hbs",
    clusterText: withJob("jobs/acme-issuer.sh"),
    prepare: async () => [...render],
    message:
      /jobs\/acme-issuer\.sh: is not a job template \(its name does not end in \.nomad\.hbs\)/,
  },
  {
    name: "a job template with a syntax error: file, line and the line shown",
    clusterText: withJob("jobs/broken.nomad.hbs"),
    prepare: async (dir) => {
      await writeFile(
        join(dir, "jobs/broken.nomad.hbs"),
        'job "{{job.id}}" {\n  datacenters = ["dc1"]\n  meta { v = "{{job.version }" }\n}\n',
      );
      return [...render];
    },
    message:
      /jobs\/broken\.nomad\.hbs:3: template syntax error: unexpected 'INVALID'\n {2}3 \| {3}meta \{ v = "\{\{job\.version \}" \}/,
  },
  {
    name: "restore from a backup file that is a symlink to /dev/zero",
    prepare: async (dir) => {
      const file = join(dir, "package.elm-lang.org-20260101T120000Z.tar.gz");
      await symlink("/dev/zero", file);
      return ["restore", "package.elm-lang.org", file, "--yes"];
    },
    message:
      /package\.elm-lang\.org-20260101T120000Z\.tar\.gz: is a device, not a regular file; a backup must be a file/,
  },
];

describe("a file that is not a small regular file is refused unread: exit 2, bounded, nothing written", () => {
  it.each(fileCases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const dir = await project(c.clusterText);
    const args = await c.prepare(dir);
    const before = await folderTree(dir);
    const r = await spawnCli(args, { cwd: dir, env: { HOME: dir }, timeoutMs: timeBound });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(c.message);
    expect(r.stdout).toBe("");
    expect(r.ms).toBeLessThan(timeBound);
    expect(r.maxRss).toBeGreaterThan(0);
    expect(r.maxRss).toBeLessThan(memoryBound);
    expect(await folderTree(dir)).toEqual(before);
  });

  it("a configuration from a pipe is refused once, clearly (not read twice and found empty)", async () => {
    const dir = await project();
    const r = await execa(
      "sh",
      [
        "-c",
        `cat cluster.yaml | node ${JSON.stringify(cliPath)} render elm-lang.org@1.0.0 --config /dev/stdin`,
      ],
      { cwd: dir, reject: false, timeout: timeBound },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/\/dev\/stdin: is a pipe \(FIFO\), not a regular file/);
    expect(r.stderr).toContain("save it to a file and pass that file's path");
  });
});

describe("state files that bring-up, the operations lock and Ansible's facts read: refused unread, exit 2", () => {
  /** Where one reader reads, and the read; `done` undoes what the set-up holds. */
  interface StateReader {
    file: string;
    read: () => Promise<unknown>;
    done?: () => Promise<void>;
  }
  const readers: Array<[string, string, (dir: string) => Promise<StateReader>]> = [
    [
      "bring-up's hosts-to-pin.json",
      "list of hosts to pin",
      async (dir) => {
        const config = await loadConfig({ file: join(dir, "cluster.yaml"), env: {} });
        return {
          file: join(dir, ".elm-infra/local/hosts-to-pin.json"),
          read: () => readPendingTrust(config),
        };
      },
    ],
    [
      "the operations lock's holder file (the lock held)",
      "lock holder file",
      async (dir) => {
        const state = join(dir, ".elm-infra/local");
        const held = await acquireOperationsLock(state, "local", "bring-up");
        const file = operationsLockPaths(state).holder;
        await rm(file);
        return {
          file,
          read: () => acquireOperationsLock(state, "local", "scale"),
          done: async () => {
            await rm(file, { recursive: true, force: true });
            await held.release();
          },
        };
      },
    ],
    [
      "a host's file in Ansible's fact cache",
      "cached Ansible facts file",
      async (dir) => {
        const cache = join(dir, "facts");
        await mkdir(cache);
        await writeFile(join(cache, "local-worker-1"), "{}");
        return { file: join(cache, "local-manager-1"), read: () => readFactCache(cache) };
      },
    ],
  ];
  const kinds: Array<[string, (file: string) => unknown, string]> = [
    ["a FIFO (must not block)", (f) => fifo(f, "600"), "is a pipe \\(FIFO\\), not a regular file"],
    ["a directory", (f) => mkdir(f), "is a directory, not a regular file"],
    ["of 4 GB (sparse)", (f) => sparse(f, "4G"), "is larger than \\d+ [kM]B"],
  ];
  const cases = readers.flatMap(([name, what, reader]) =>
    kinds.map(([kind, make, says]) => [`${name}: ${kind}`, what, reader, make, says] as const),
  );
  it.each(cases)("%s", async (_name, what, reader, make, says) => {
    const dir = await project();
    await mkdir(join(dir, ".elm-infra/local"), { recursive: true });
    const r = await reader(dir);
    try {
      await make(r.file);
      const began = Date.now();
      const error = await r.read().then(
        () => expect.unreachable("read"),
        (e: unknown) => e,
      );
      expect(Date.now() - began).toBeLessThan(timeBound);
      expect(error).toBeInstanceOf(FileRefusedError);
      expect((error as FileRefusedError).exitCode).toBe(2);
      expect((error as Error).message).toMatch(
        new RegExp(`^${escaped(r.file)}: ${says}; a ${what} (must be a file|is refused past that)`),
      );
    } finally {
      await r.done?.();
    }
  });

  it("as before: no hosts-to-pin.json is no host to pin, the lock's holder is named", async () => {
    const dir = await project();
    const config = await loadConfig({ file: join(dir, "cluster.yaml"), env: {} });
    expect(await readPendingTrust(config)).toEqual([]);
    await mkdir(join(dir, ".elm-infra/local"), { recursive: true });
    await writeFile(join(dir, ".elm-infra/local/hosts-to-pin.json"), '["local-worker-3"]');
    expect(await readPendingTrust(config)).toEqual(["local-worker-3"]);
    const state = join(dir, ".elm-infra/local");
    const held = await acquireOperationsLock(state, "local", "bring-up");
    try {
      await expect(acquireOperationsLock(state, "local", "scale")).rejects.toThrow(
        /^scale refused: bring-up by .* holds the operations lock of target local$/,
      );
    } finally {
      await held.release();
    }
  });
});

describe("a refused command writes nothing: no state folder, no key pair", () => {
  const refusals: Array<[string[], number, RegExp]> = [
    [["scale", "--managers", "2"], 2, /cannot scale target local to 2 managers/],
    [["scale", "--workers", "3"], 2, /target local has no hosts yet/],
    [["scale"], 2, /scale needs --managers, --workers or both/],
    [["replace", "local-worker-9"], 2, /target local has no hosts yet/],
    [["replace", "local-worker-1", "--dry-run"], 2, /target local has no hosts yet/],
    [["deploy", "elm-lang.org@1.0.0", "--yes"], 2, /has no workers recorded|has neither `hosts`/],
    [
      ["deploy", "elm-lang.org@1.0.0", "--dry-run"],
      2,
      /has no workers recorded|has neither `hosts`/,
    ],
    [["deploy", "ingress@3.6.12", "--yes"], 2, /has no workers recorded|has neither `hosts`/],
    [["rollback", "elm-lang.org", "--yes"], 2, /has no workers recorded|has neither `hosts`/],
    [["status"], 2, /has no workers recorded|has neither `hosts`/],
    [["backup", "package.elm-lang.org"], 2, /target local has no hosts yet/],
    [["backup", "elm-lang.org"], 2, /elm-lang\.org keeps no data on a volume: nothing to back up/],
    [["restore", "package.elm-lang.org", "--yes"], 2, /target local has no hosts yet/],
    [["restore", "package.elm-lang.org", "nope.tar.gz"], 2, /is not named as a backup/],
    [["restore", "package.elm-lang.org", "--from-store"], 2, /target local has no store/],
    [
      ["restore", "package.elm-lang.org", "x.tar.gz", "--from-store"],
      2,
      /a backup file or --from-store, not both/,
    ],
    [
      ["image", "elm-lang.org@1.0.0", "--context", "nope"],
      2,
      /the build context .* does not exist/,
    ],
    [
      ["deploy", "elm-lang.org@1.0.0", "--context", "."],
      2,
      /--context means something only with --build/,
    ],
    [["prune", "nope.org"], 2, /unknown service "nope\.org"/],
    [["prune", "elm-lang.org", "--keep", "-1"], 2, /--keep takes a whole number/],
    [["prune", "elm-lang.org", "--yes"], 2, /registryUsername: is needed to reach the registry/],
    [["render", "elm-lang.org@1.0.0", "--target", ""], 2, /--target was given an empty name/],
    [["destroy", "--target", "nope"], 2, /unknown target "nope"/],
    [
      ["destroy"],
      2,
      /cannot read the SSH public key: cannot read the file: no such SSH public key/,
    ],
    [["destroy", "--dry-run"], 2, /cannot read the SSH public key/],
  ];
  it.each(refusals)(
    "%j: exit %i, the project folder unchanged",
    async (args, exitCode, message) => {
      const dir = await project();
      const before = await folderTree(dir);
      const r = await runInProcess(args, { cwd: dir, env: { HOME: dir } });
      expect(r.exitCode, r.stderr).toBe(exitCode);
      expect(r.stderr).toMatch(message);
      expect(await folderTree(dir)).toEqual(before);
    },
  );
});

describe("standard output closed or full", () => {
  const config = join(repo, "cluster.yaml");
  const sh = (command: string) =>
    execa("sh", ["-c", command], { reject: false, timeout: timeBound, cwd: repo });
  const cli = `node ${JSON.stringify(cliPath)}`;

  it.each([
    ["--help"],
    [`render elm-lang.org@1.0.0 --config ${config}`],
    [`render elm-lang.org@1.0.0 --config ${config} --json`],
  ])("%s > /dev/full: one line on stderr, exit 1", async (args) => {
    const r = await sh(`${cli} ${args} > /dev/full`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      "error: cannot write to standard output: no space left on the device (ENOSPC)",
    );
  });

  it.each([
    ["--help", ">&-"],
    [`render elm-lang.org@1.0.0 --config ${config}`, ">&-"],
    ["--help", "| head -n 1 >/dev/null"],
    [`render elm-lang.org@1.0.0 --config ${config}`, "| head -n 1 >/dev/null"],
  ])("%s %s: a quiet exit 0", async (args, redirect) => {
    const r = await sh(`${cli} ${args} ${redirect}; echo "exit $?" >&2`);
    expect(r.stderr).toBe("exit 0");
  });
});

describe("messages that used to mislead", () => {
  const cases: Array<{
    name: string;
    args: string[];
    env?: Record<string, string>;
    exitCode: number;
    lines: RegExp[];
  }> = [
    {
      name: "an empty ELM_INFRA_TARGET is unset: defaultTarget is used",
      args: ["scale", "--managers", "2"],
      env: { ELM_INFRA_TARGET: "" },
      exitCode: 2,
      lines: [/^error: cannot scale target local to 2 managers/],
    },
    {
      name: "an empty ELM_INFRA_CONFIG is unset: ./cluster.yaml is read",
      args: ["scale", "--managers", "2"],
      env: { ELM_INFRA_CONFIG: "" },
      exitCode: 2,
      lines: [/^error: cannot scale target local to 2 managers/],
    },
    {
      name: "-t '' is refused, naming the targets",
      args: ["scale", "--managers", "3", "-t", ""],
      exitCode: 2,
      lines: [
        /^error: --target was given an empty name$/,
        /^hint: pass one of local, dev, production, or leave --target out for local$/,
      ],
    },
    {
      name: "backup of a service without data names the problem, not 'no hosts yet'",
      args: ["backup", "elm-lang.org"],
      exitCode: 2,
      lines: [
        /^error: elm-lang\.org keeps no data on a volume: nothing to back up$/,
        /^hint: services with data: package\.elm-lang\.org; for example: elm-infra backup package\.elm-lang\.org$/,
      ],
    },
    {
      name: "restore of a service without data",
      args: ["restore", "elm-lang.org", "--yes"],
      exitCode: 2,
      lines: [/^error: elm-lang\.org keeps no data on a volume: nothing to restore$/],
    },
    {
      name: "backup of an unknown service",
      args: ["backup", "constructor"],
      exitCode: 2,
      lines: [/^error: unknown service "constructor"$/],
    },
    {
      name: "--managers 0 suggests 1 or 3 (not '1 or 1')",
      args: ["scale", "--managers", "0"],
      exitCode: 2,
      lines: [/^error: cannot scale target local to 0 managers/, /^hint: use --managers 1 or 3$/],
    },
    {
      name: "--context without --build",
      args: ["deploy", "elm-lang.org@1.0.0", "--context", "site"],
      exitCode: 2,
      lines: [
        /^error: --context means something only with --build, which was not given$/,
        /^hint: add --build, or leave out --context$/,
      ],
    },
    {
      name: "deploy --build --host: images are no longer shipped over SSH",
      args: ["deploy", "elm-lang.org@1.0.0", "--build", "--context", "x", "--host", "a"],
      exitCode: 2,
      lines: [/^error: unknown option '--host'$/],
    },
    {
      name: "deploy ingress --build",
      args: ["deploy", "ingress@3.6.12", "--build", "--context", "x"],
      exitCode: 2,
      lines: [/^error: --build and --context cannot be used here: deploy ingress builds no image$/],
    },
    {
      name: "image --host: the image goes to the registry, never to hosts",
      args: ["image", "elm-lang.org@1.0.0", "--context", ".", "--host", "a"],
      exitCode: 2,
      lines: [/^error: unknown option '--host'$/],
    },
    {
      name: "an unknown command with --help is named, not answered with the general help",
      args: ["bogus", "--help"],
      exitCode: 2,
      lines: [/^error: unknown command 'bogus'$/],
    },
    {
      name: "the same after a global option and its value",
      args: ["-t", "local", "depoly", "-h"],
      exitCode: 2,
      lines: [/^error: unknown command 'depoly'$/, /^\(Did you mean deploy\?\)$/],
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const r = await runInProcess(c.args, { cwd: repo, env: c.env ?? {} });
    expect(r.exitCode, r.stderr).toBe(c.exitCode);
    const err = r.stderr.split("\n");
    c.lines.forEach((line, i) => expect(err[i]).toMatch(line));
    expect(r.stdout).toBe("");
  });

  it("a known command's --help still exits 0", async () => {
    const r = await runInProcess(["deploy", "--help"], { cwd: repo });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Usage: elm-infra deploy");
  });
});

describe("the real entry point stops on a signal", () => {
  it.each([
    ["SIGINT", 130, "error: interrupted"],
    ["SIGTERM", 143, "error: terminated (SIGTERM)"],
  ] as const)(
    "%s during a 60-second probe: exit %i within a second",
    async (signal, code, line) => {
      const child = execa(
        "node",
        [
          cliPath,
          "probe",
          "elm-lang.org",
          "--seconds",
          "60",
          "--config",
          join(repo, "cluster.yaml"),
        ],
        {
          reject: false,
          stdin: "ignore",
          timeout: 30_000,
          extendEnv: false,
          env: { PATH: process.env.PATH ?? "" },
        },
      );
      // started, its handlers in place: the probe has said where it sends its requests
      let said = "";
      child.stderr?.on("data", (d: Buffer) => (said += String(d)));
      for (let i = 0; i < 200 && !said.includes("probing"); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(said).toContain("probing");
      const sent = Date.now();
      child.kill(signal);
      const r = await child;
      expect(Date.now() - sent).toBeLessThan(1_000);
      expect(r.exitCode).toBe(code);
      expect(String(r.stderr)).toContain(line);
    },
  );
});

describe("Ctrl-C during an SSH connect to a host that never answers", () => {
  it("status: exit 130 within a second of the signal, nothing written", async () => {
    // A manager whose SSH port accepts TCP and then says nothing: without the signal the
    // handshake would wait its 15 s, then try the next host.
    const accepted = new Set<Socket>();
    const silent = createServer((socket) => void accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const dir = await project();
      const state = join(dir, ".elm-infra/local");
      await mkdir(state, { recursive: true });
      execFileSync("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-f",
        join(state, "id_ed25519"),
      ]);
      const host = (role: string, n: number) => ({
        name: `local-${role}-${n}`,
        role,
        privateAddress: "10.213.0.11",
        ssh: { host: "127.0.0.1", port },
      });
      await writeFile(
        join(state, "inventory.json"),
        JSON.stringify({ target: "local", hosts: [host("manager", 1), host("worker", 1)] }),
      );
      const before = await folderTree(dir);
      const child = execa("node", [cliPath, "status"], {
        cwd: dir,
        reject: false,
        stdin: "ignore",
        timeout: 30_000,
        extendEnv: false,
        env: { PATH: process.env.PATH ?? "", HOME: dir },
      });
      for (let i = 0; i < 200 && accepted.size === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(accepted.size).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const sent = Date.now();
      child.kill("SIGINT");
      const r = await child;
      expect(Date.now() - sent).toBeLessThan(1_000);
      expect(r.exitCode, String(r.stderr)).toBe(130);
      expect(String(r.stderr)).toMatch(/^error: interrupted$/m);
      expect(r.stdout).toBe("");
      expect(await folderTree(dir)).toEqual(before);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("a second Ctrl-C quits at once", () => {
  it("the second SIGINT asks the process to exit 130 without waiting for the cleanup", async () => {
    const { runCli } = await import("../../../src/cli/run.js");
    const exits: number[] = [];
    const err: string[] = [];
    const running = runCli(
      ["probe", "elm-lang.org", "--seconds", "60", "--config", join(repo, "cluster.yaml")],
      {
        stdout: { write: () => true },
        stderr: { write: (s: string) => err.push(s) },
        stderrIsTTY: false,
        stdinIsTTY: false,
        exitNow: (code) => void exits.push(code),
      },
    );
    for (let i = 0; i < 200 && !err.join("").includes("probing"); i++)
      await new Promise((resolve) => setTimeout(resolve, 25));
    process.emit("SIGINT");
    expect(exits).toEqual([]);
    process.emit("SIGINT");
    expect(exits).toEqual([130]);
    expect(await running).toBe(130);
    expect(err.join("")).toContain("press Ctrl-C again to quit at once");
  });
});
