/**
 * Test harness: "VMs" for integration tests, as containers of the elm-infra/host image (systemd,
 * sshd, nested dockerd) on their own Docker network, reachable from this machine by their IPs.
 * Every run has a unique name prefix; stop() removes its containers, volumes, network and keys.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { waitForSsh } from "../../src/ssh/wait.js";

export interface TestHost {
  /** Container name, also the machine's hostname. */
  name: string;
  /** Address on the run's Docker network, reachable from this machine. */
  ip: string;
  sshPort: number;
  privateKeyPath: string;
}

export interface TestHostFleet {
  hosts: TestHost[];
  /** The run's prefix, e.g. `elm-infra-test-3f9a1c`. */
  prefix: string;
  network: string;
  privateKeyPath: string;
  publicKey: string;
  /** A fresh, empty known_hosts path in the run's temp dir. */
  knownHostsPath: string;
  /** Temp dir of the run (keys, known_hosts); removed by stop(). */
  workDir: string;
  /**
   * With `agentRepository`: the signed apt repository of the pinned agents, served on the run's
   * network as the local target's `<target>-apt` container serves it (http://<ip>, key at /gpg).
   */
  aptUrl?: string;
  /** Runs a command in a host container as root (docker exec), failing on non-zero exit. */
  exec(host: TestHost, argv: string[], input?: string): Promise<string>;
  /** Journal and container log of every host, for printing when a test fails. */
  collectLogs(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartHostsOptions {
  count: number;
  /** Default elm-infra/host:latest (built by images/base/build.sh host when missing). */
  image?: string;
  /** Bound on waiting for each sshd; default 120 s. */
  sshTimeoutMs?: number;
  /** Also serve the agents' apt repository (src/tools/agents-apt.sh builds it when missing). */
  agentRepository?: boolean;
}

/** The agents' apt repository's folder, built by src/tools/agents-apt.sh (seconds when present). */
async function agentRepositoryDir(): Promise<string> {
  const built = await execa("bash", [join(repoRoot, "src/tools/agents-apt.sh")], {
    stdin: "ignore",
    timeout: 600_000,
  });
  return built.stdout.trim();
}

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

// What lets systemd run as PID 1 with a nested dockerd here (no --privileged: the machine's
// bounding set lacks CAP_SYS_RESOURCE). See /work/shared/ENVIRONMENT.md.
function vmRunFlags(name: string): string[] {
  return [
    "--cap-add",
    "ALL",
    "--cap-drop",
    "SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--cgroupns=host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--stop-signal",
    "SIGRTMIN+3",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    "-v",
    `${name}-docker:/var/lib/docker`,
  ];
}

async function docker(args: string[], input?: string): Promise<string> {
  const result = await execa("docker", args, {
    ...(input !== undefined ? { input } : { stdin: "ignore" }),
    timeout: 120_000,
  });
  return result.stdout;
}

/**
 * Makes sure the image exists. The default one is (re)built by images/base/build.sh, which takes
 * under a second when the image for the current recipe is present, minutes when it is not.
 */
export async function ensureHostImage(image = "elm-infra/host:latest"): Promise<void> {
  if (image === "elm-infra/host:latest") {
    await execa("bash", [join(repoRoot, "images/base/build.sh"), "host"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "inherit",
      timeout: 30 * 60_000,
    });
    return;
  }
  const present = await execa("docker", ["image", "inspect", image], {
    reject: false,
    stdin: "ignore",
  });
  if (present.exitCode !== 0) throw new Error(`image ${image} is missing`);
}

/** Starts `count` host containers and returns once each one's sshd answers with a banner. */
export async function startHosts(options: StartHostsOptions): Promise<TestHostFleet> {
  const image = options.image ?? "elm-infra/host:latest";
  await ensureHostImage(image);
  const prefix = `elm-infra-test-${randomBytes(3).toString("hex")}`;
  const network = `${prefix}-net`;
  const workDir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const privateKeyPath = join(workDir, "id_ed25519");
  const names = Array.from({ length: options.count }, (_, i) => `${prefix}-h${i + 1}`);
  const started: string[] = [];
  let networkCreated = false;

  const collectLogs = async (): Promise<string> => {
    const parts: string[] = [];
    for (const name of started.filter((n) => !n.endsWith("-apt"))) {
      const journal = await execa(
        "docker",
        ["exec", name, "journalctl", "--no-pager", "-o", "short-precise", "-n", "400"],
        { reject: false, stdin: "ignore" },
      );
      const text = `=== ${name}: journal ===\n${journal.stdout}${journal.stderr}`;
      parts.push(text);
    }
    return parts.join("\n");
  };

  const stop = async (): Promise<void> => {
    if (started.length > 0)
      await execa("docker", ["rm", "-f", "-v", ...started], { reject: false, stdin: "ignore" });
    const volumes = names.map((n) => `${n}-docker`);
    await execa("docker", ["volume", "rm", "-f", ...volumes], { reject: false, stdin: "ignore" });
    if (networkCreated)
      await execa("docker", ["network", "rm", network], { reject: false, stdin: "ignore" });
    await rm(workDir, { recursive: true, force: true });
    started.length = 0;
  };

  try {
    await execa(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", prefix, "-f", privateKeyPath],
      { stdin: "ignore" },
    );
    const publicKey = (await readFile(`${privateKeyPath}.pub`, "utf8")).trim();
    await docker(["network", "create", "--label", `elm-infra-test=${prefix}`, network]);
    networkCreated = true;
    let aptUrl: string | undefined;
    if (options.agentRepository) {
      const dir = await agentRepositoryDir();
      const name = `${prefix}-apt`;
      started.push(name);
      // The image and server of iac/local's apt container.
      await docker([
        ...["run", "-d", "--name", name, "--network", network],
        ...["--label", `elm-infra-test=${prefix}`, "-v", `${dir}:/srv/apt:ro`],
        ...["elm-infra/base:latest", "python3", "-m", "http.server", "80"],
        ...["--directory", "/srv/apt"],
      ]);
      const ip = await docker([
        "inspect",
        "-f",
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        name,
      ]);
      aptUrl = `http://${ip.trim()}`;
    }
    const hosts: TestHost[] = [];
    for (const name of names) {
      started.push(name);
      await docker([
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "--network",
        network,
        "--label",
        `elm-infra-test=${prefix}`,
        ...vmRunFlags(name),
        image,
      ]);
      await docker(
        ["exec", "-i", name, "sh", "-c", "umask 077 && cat > /root/.ssh/authorized_keys"],
        `${publicKey}\n`,
      );
      const ip = await docker([
        "inspect",
        "-f",
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        name,
      ]);
      hosts.push({ name, ip: ip.trim(), sshPort: 22, privateKeyPath });
    }
    await Promise.all(
      hosts.map((h) =>
        waitForSsh({
          name: h.name,
          host: h.ip,
          port: h.sshPort,
          deadlineMs: options.sshTimeoutMs ?? 120_000,
          intervalMs: 500,
        }),
      ),
    );
    return {
      hosts,
      prefix,
      network,
      privateKeyPath,
      publicKey,
      knownHostsPath: join(workDir, "known_hosts"),
      workDir,
      ...(aptUrl ? { aptUrl } : {}),
      exec: (host, argv, input) =>
        docker(["exec", ...(input !== undefined ? ["-i"] : []), host.name, ...argv], input),
      collectLogs,
      stop,
    };
  } catch (error) {
    const text = await collectLogs().catch(() => "");
    if (text) process.stderr.write(`${text}\n`);
    await stop();
    throw error;
  }
}
