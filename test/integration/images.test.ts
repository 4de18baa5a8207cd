/**
 * The service images and the image command against the real Docker engine: both images build
 * from the fixture sites on elm-infra/base, run as non-root, and answer /health with their
 * version; a broken Dockerfile, a bad tag and a missing context fail clearly; a push never shows
 * the password. When elm-infra/host:latest exists, an image is shipped over SSH into a host
 * container's nested engine and run there.
 */
import { execa } from "execa";
import { dump, load } from "js-yaml";
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, type ImageOptions } from "../../src/commands/image.js";
import { createContext, type CommandContext } from "../../src/tasks/context.js";
import { DockerClient } from "../../src/docker/client.js";
import { checkWorkers, shipImage } from "../../src/docker/ship.js";
import { OperationError, UsageError } from "../../src/errors.js";
import { Output } from "../../src/output/output.js";
import { startHosts, type TestHostFleet } from "../harness/hosts.js";
import { runInProcess } from "../support/cli.js";

const repo = resolve(import.meta.dirname, "../..");
const sites = join(repo, "test/fixtures/sites");
const run = Date.now().toString(36);
const version = `it-${run}`;
const baseImage = "elm-infra/base:latest";
const hostImage = "elm-infra/host:latest";

const containers: string[] = [];
const volumes: string[] = [];
const images: string[] = [];
let work: string;

async function docker(...args: string[]): Promise<string> {
  return (await execa("docker", args, { timeout: 300_000 })).stdout.trim();
}

async function imageExists(ref: string): Promise<boolean> {
  return (await execa("docker", ["image", "inspect", ref], { reject: false })).exitCode === 0;
}

/** GETs a URL until it answers (at most `tries` times, a second apart). */
async function fetchWhenUp(url: string, tries = 30): Promise<Response> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2_000) });
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  throw new Error(`${url} did not answer within ${tries} tries: ${String(last)}`);
}

/** Starts a container from `ref` with port 8080 published on a free 127.0.0.1 port. */
async function runPublished(ref: string, name: string, extra: string[] = []): Promise<string> {
  containers.push(name);
  await docker("run", "-d", "--name", name, "-p", "127.0.0.1::8080", ...extra, ref);
  const port = (await docker("port", name, "8080/tcp")).split("\n")[0]!;
  return `http://${port}`;
}

interface Harness {
  ctx: CommandContext;
  lines: string[];
}

/** A command context on a cluster.yaml in a temp folder, its output captured. */
function harness(configFile: string, target = "local"): Harness {
  const lines: string[] = [];
  const sink = { write: (chunk: string) => lines.push(...chunk.split("\n").filter(Boolean)) };
  const output = new Output("plain", true, sink, sink);
  const options = {
    config: configFile,
    target,
    yes: true,
    dryRun: false,
    json: false,
    verbose: true,
  };
  return { ctx: createContext(options, output, new AbortController().signal, false), lines };
}

function imageOptions(service: string, extra: ImageOptions = {}): ImageOptions {
  return { imageDir: join(repo, "images", service), ...extra };
}

/** Image IDs the legacy builder printed (" ---> 0123abcd"), to remove a failed build's layers. */
function layerIds(lines: readonly string[]): string[] {
  return lines.flatMap((l) => /--->\s+([0-9a-f]{12})\s*$/.exec(l)?.[1] ?? []);
}

let configFile: string;
let keyFile: string;

beforeAll(async () => {
  if (!(await imageExists(baseImage))) {
    throw new Error(`${baseImage} is missing: build it with bash images/base/build.sh base`);
  }
  work = await mkdtemp(join(tmpdir(), "elm-infra-images-"));
  keyFile = join(work, "id_ed25519");
  await execa("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "elm-infra-test",
    "-f",
    keyFile,
  ]);
  // The repository's services, with two targets of our own: `local` (no registry, our SSH key)
  // and `production`, whose registry is a closed loopback port so a push fails without leaving.
  const repoCluster = load(await readFile(join(repo, "cluster.yaml"), "utf8")) as {
    services: unknown;
  };
  const target = {
    provider: "local",
    region: "local",
    image: hostImage,
    sizes: { manager: "local", worker: "local" },
    managers: 1,
    workers: 1,
    ssh: { user: "root", privateKey: keyFile, knownHosts: join(work, "known_hosts") },
  };
  configFile = join(work, "cluster.yaml");
  await writeFile(
    configFile,
    dump({
      defaultTarget: "local",
      targets: {
        local: { ...target, registry: "local" },
        production: { ...target, registry: "127.0.0.1:1/elm-lang" },
        // Its known_hosts pins another key for the worker: shipping there must be refused.
        impostor: {
          ...target,
          registry: "local",
          ssh: { ...target.ssh, knownHosts: join(work, "impostor_known_hosts") },
        },
      },
      services: repoCluster.services,
    }),
  );
});

afterAll(async () => {
  for (const name of containers) await execa("docker", ["rm", "-f", "-v", name], { reject: false });
  for (const name of volumes)
    await execa("docker", ["volume", "rm", "-f", name], { reject: false });
  for (const ref of images) await execa("docker", ["rmi", "-f", ref], { reject: false });
  if (work) await rm(work, { recursive: true, force: true });
});

describe("elm-lang.org image", () => {
  const ref = `elm-lang.org:${version}`;

  it("builds from the site folder, runs as non-root and answers /health with its version", async () => {
    const { ctx, lines } = harness(configFile);
    images.push(ref);
    const result = await buildImage(
      ctx,
      `elm-lang.org@${version}`,
      imageOptions("elm-lang.org", { context: join(sites, "elm-lang.org/site") }),
    );

    expect(result.ref).toBe(ref);
    expect(result.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.delivery.kind).toBe("tagged");
    expect(lines.join("\n")).toMatch(/Step \d+\/\d+ : COPY dist\/ \/srv\/site\//);
    expect(await docker("image", "inspect", "-f", "{{.Id}}", ref)).toBe(result.imageId);
    const labels = JSON.parse(
      await docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref),
    );
    expect(labels["org.opencontainers.image.version"]).toBe(version);
    expect(labels["org.opencontainers.image.title"]).toBe("elm-lang.org");
    expect(await docker("image", "inspect", "-f", "{{.Config.User}}", ref)).toBe("site");

    const url = await runPublished(ref, `elm-it-site-${run}`);
    const health = await fetchWhenUp(`${url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get("x-elm-version")).toBe(version);
    expect(await health.json()).toEqual({ status: "ok", version });

    const home = await fetch(`${url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get("x-elm-version")).toBe(version);
    expect(await home.text()).toContain("delightful language");
    const clean = await fetch(`${url}/examples/hello`);
    expect(await clean.text()).toContain("Hello, World!");
    const listing = await fetch(`${url}/assets/`);
    expect(listing.status).toBe(404);
    expect(listing.headers.get("x-elm-version")).toBe(version);
    expect(await listing.text()).toContain("Page not found");
  });
});

describe("package.elm-lang.org image", () => {
  const ref = `package.elm-lang.org:${version}`;

  it("packages the server binary without its data, and serves the data volume at /data", async () => {
    const context = join(work, "package-build");
    await mkdir(context, { recursive: true });
    await execa("go", ["build", "-trimpath", "-o", join(context, "server"), "."], {
      cwd: join(sites, "package.elm-lang.org/server"),
      env: { CGO_ENABLED: "0", GOOS: "linux", GOARCH: "amd64", GOFLAGS: "-mod=mod" },
      timeout: 300_000,
    });
    // The build output comes with its data folder; the image must leave it out.
    await cp(join(sites, "package.elm-lang.org/data"), join(context, "data"), { recursive: true });

    const { ctx } = harness(configFile);
    images.push(ref);
    const result = await buildImage(
      ctx,
      `package.elm-lang.org@${version}`,
      imageOptions("package.elm-lang.org", { context }),
    );
    expect(result.imageId).toMatch(/^sha256:/);
    expect(await docker("run", "--rm", "--entrypoint", "ls", ref, "-A", "/data")).toBe("");
    expect(await docker("image", "inspect", "-f", "{{.Config.User}}", ref)).toBe("packages");

    const volume = `elm-it-package-data-${run}`;
    volumes.push(volume);
    await docker("volume", "create", volume);
    // Seed the volume as the bring-up would: the package data, owned by the server's uid.
    await docker(
      "run",
      "--rm",
      "-v",
      `${volume}:/data`,
      "-v",
      `${join(sites, "package.elm-lang.org/data")}:/seed:ro`,
      "--user",
      "0",
      "--entrypoint",
      "sh",
      ref,
      "-c",
      "cp -R /seed/. /data/ && chown -R 10001:10001 /data",
    );

    const url = await runPublished(ref, `elm-it-package-${run}`, ["-v", `${volume}:/data`]);
    const health = await fetchWhenUp(`${url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get("x-elm-version")).toBe(version);
    expect(await health.json()).toEqual({ status: "ok", version });
    const pkg = await fetch(`${url}/packages/elm/core/1.0.5/elm.json`);
    expect(pkg.status).toBe(200);
    expect(pkg.headers.get("x-elm-version")).toBe(version);
    expect(((await pkg.json()) as { name: string }).name).toBe("elm/core");
  });
});

describe("refusals and failures", () => {
  it("reports the failing step of a broken Dockerfile with its output", async () => {
    const { ctx, lines } = harness(configFile);
    const ref = `elm-lang.org:broken-${run}`;
    images.push(ref);
    const attempt = buildImage(ctx, `elm-lang.org@broken-${run}`, {
      imageDir: join(sites, "broken/image"),
      context: join(sites, "broken/dist"),
    });
    const error = await attempt.catch((e: unknown) => e);
    images.push(...layerIds(lines));
    expect(error).toBeInstanceOf(OperationError);
    const message = (error as Error).message;
    expect(message).toMatch(/failed at Step 4\/\d+ : RUN echo "checking the site in \/srv\/site"/);
    expect(message).toContain("checking the site in /srv/site");
    expect(message).toMatch(
      /\| ls: cannot access '\/srv\/site\/missing-page\.html': No such file or directory/,
    );
    expect(message).toMatch(/returned a non-zero code: 2/);
    expect(message).not.toMatch(/^\s*\| never printed$/m);
    expect(await imageExists(ref)).toBe(false);
  });

  it("refuses an invalid tag before building anything", async () => {
    const { ctx, lines } = harness(configFile);
    const error = await buildImage(
      ctx,
      "elm-lang.org@1.0;rm -rf",
      imageOptions("elm-lang.org", { context: "/nonexistent" }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/invalid version "1.0;rm -rf"/);
    expect(lines.join("\n")).not.toMatch(/Build/);
    const latest = await buildImage(ctx, "elm-lang.org@latest", imageOptions("elm-lang.org")).catch(
      (e: unknown) => e,
    );
    expect(latest).toBeInstanceOf(UsageError);
  });

  it("says clearly when the context is missing", async () => {
    const { ctx } = harness(configFile);
    const missing = await buildImage(
      ctx,
      `elm-lang.org@${version}`,
      imageOptions("elm-lang.org", { context: join(work, "no-such-site") }),
    ).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UsageError);
    expect((missing as UsageError).message).toContain(
      `the build context ${join(work, "no-such-site")} does not exist`,
    );
    expect((missing as UsageError).hint).toMatch(/--context/);
    const absent = await buildImage(
      ctx,
      `elm-lang.org@${version}`,
      imageOptions("elm-lang.org"),
    ).catch((e: unknown) => e);
    expect(absent).toBeInstanceOf(UsageError);
    expect((absent as Error).message).toMatch(/missing --context/);
  });

  it("never shows the registry password when a push fails", async () => {
    const password = `pw-${run}-s3cret`;
    process.env.ELM_INFRA_REGISTRY_USERNAME = "elm";
    process.env.ELM_INFRA_REGISTRY_PASSWORD = password;
    try {
      const { ctx, lines } = harness(configFile, "production");
      images.push(`127.0.0.1:1/elm-lang/elm-lang.org:${version}`);
      const error = await buildImage(
        ctx,
        `elm-lang.org@${version}`,
        imageOptions("elm-lang.org", { context: join(sites, "elm-lang.org/site") }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(
        /pushing 127\.0\.0\.1:1\/elm-lang\/elm-lang\.org:it-\S+ failed/,
      );
      const everything = [
        (error as Error).message,
        (error as OperationError).hint ?? "",
        ...lines,
      ].join("\n");
      expect(everything).not.toContain(password);
      expect(everything).not.toContain(Buffer.from(password).toString("base64").slice(0, 16));
    } finally {
      delete process.env.ELM_INFRA_REGISTRY_USERNAME;
      delete process.env.ELM_INFRA_REGISTRY_PASSWORD;
    }
  });
});

const hostAvailable =
  (await execa("docker", ["image", "inspect", hostImage], { reject: false })).exitCode === 0;

describe.skipIf(!hostAvailable)(
  `shipping to a host container's nested engine (needs ${hostImage})`,
  () => {
    const ref = `elm-lang.org:ship-${run}`;
    let fleet: TestHostFleet;
    let host: string;
    let address: string;

    beforeAll(async () => {
      fleet = await startHosts({ count: 1, image: hostImage });
      const vm = fleet.hosts[0]!;
      host = vm.name;
      address = vm.ip;
      const publicKey = await readFile(`${keyFile}.pub`, "utf8");
      await fleet.exec(vm, ["sh", "-c", "cat >> /root/.ssh/authorized_keys"], publicKey);
      for (let i = 0; ; i++) {
        const up = await fleet
          .exec(vm, ["sh", "-c", "systemctl is-active docker && docker info >/dev/null"])
          .then(() => true)
          .catch((e: unknown) => e);
        if (up === true) break;
        if (i >= 90)
          throw new Error(`${host}: the nested dockerd did not come up in 90 s: ${String(up)}`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }, 240_000);

    afterAll(async () => {
      await fleet?.stop();
    });

    it("ships over SSH; the worker holds the same image ID and runs it", async () => {
      const { ctx } = harness(configFile);
      images.push(ref);
      const result = await buildImage(
        ctx,
        `elm-lang.org@ship-${run}`,
        imageOptions("elm-lang.org", {
          context: join(sites, "elm-lang.org/site"),
          hosts: [`root@${address}:22`],
        }),
      );
      images.push(result.imageId!); // rebuilt below: this ID is left untagged then
      expect(result.delivery.kind).toBe("shipped");
      if (result.delivery.kind !== "shipped") return;
      expect(result.delivery.shipment.complete).toBe(true);
      expect(result.delivery.shipment.workers).toEqual([
        { worker: `${address}:22`, state: "loaded", imageId: result.imageId },
      ]);
      expect(await docker("exec", host, "docker", "image", "inspect", "-f", "{{.Id}}", ref)).toBe(
        result.imageId,
      );
      // First contact pinned the worker's host key, as the SSH tunnel does.
      const pinned = await readFile(join(work, "known_hosts"), "utf8");
      expect(pinned).toMatch(new RegExp(`^${address.replaceAll(".", "\\.")} ssh-ed25519 `, "m"));

      await docker("exec", host, "docker", "run", "-d", "--name", "site", "-p", "8080:8080", ref);
      const health = await fetchWhenUp(`http://${address}:8080/health`);
      expect(health.status).toBe(200);
      expect(health.headers.get("x-elm-version")).toBe(`ship-${run}`);
    });

    it("ships through the command line's --host, a list as the README shows: exit 0, same image ID", async () => {
      // the CLI finds images/<service>/Dockerfile beside cluster.yaml, as in the repository
      await symlink(join(repo, "images"), join(work, "images")).catch(() => undefined);
      const tag = `cli-${run}`;
      images.push(`elm-lang.org:${tag}`);
      const r = await runInProcess(
        [
          "image",
          `elm-lang.org@${tag}`,
          "--context",
          join(sites, "elm-lang.org/site"),
          "--host",
          `root@${address}:22`,
          "--config",
          configFile,
          "--target",
          "local",
          "--yes",
          "--json",
        ],
        { cwd: work },
      );
      expect(r.exitCode, `${r.stderr}\n${r.stdout}`).toBe(0);
      const result = JSON.parse(r.stdout.split("\n").at(-1)!) as {
        type: string;
        data: { imageId: string; delivery: { kind: string } };
      };
      expect(result.type).toBe("result");
      expect(result.data.delivery.kind).toBe("shipped");
      expect(
        await docker(
          "exec",
          host,
          "docker",
          "image",
          "inspect",
          "-f",
          "{{.Id}}",
          `elm-lang.org:${tag}`,
        ),
      ).toBe(result.data.imageId);
    });

    it("refuses a worker whose host key is not the pinned one, and ships nothing to it", async () => {
      const other = join(work, "other_host_key");
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
      const [type, key] = (await readFile(`${other}.pub`, "utf8")).split(" ");
      await writeFile(join(work, "impostor_known_hosts"), `${address} ${type} ${key}\n`);
      const { ctx } = harness(configFile, "impostor");
      const error = await buildImage(
        ctx,
        `elm-lang.org@impostor-${run}`,
        imageOptions("elm-lang.org", {
          context: join(sites, "elm-lang.org/site"),
          hosts: [`root@${address}`],
        }),
      ).catch((e: unknown) => e);
      images.push(`elm-lang.org:impostor-${run}`);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toContain(`refused ${address}: its host key changed`);
      const there = await execa(
        "docker",
        ["exec", host, "docker", "image", "inspect", `elm-lang.org:impostor-${run}`],
        { reject: false },
      );
      expect(there.exitCode).not.toBe(0);
    });

    it("sends nothing to a worker that already has the image, and reports a half-shipped version", async () => {
      const local = DockerClient.local();
      const key = await readFile(keyFile);
      const worker = {
        name: "worker-1",
        docker: DockerClient.overSsh({ host: address, username: "root", privateKey: key }),
      };
      const gone = {
        name: "worker-2",
        docker: DockerClient.overSsh({
          host: "127.0.0.1",
          port: 1,
          username: "root",
          privateKey: key,
        }),
      };

      const again = await shipImage(local, ref, [worker]);
      expect(again.complete).toBe(true);
      expect(again.workers[0]!.state).toBe("present");

      const half = await shipImage(local, ref, [worker, gone]);
      expect(half.complete).toBe(false);
      expect(half.workers.map((w) => w.state)).toEqual(["present", "failed"]);

      const other = await checkWorkers(ref, `sha256:${"0".repeat(64)}`, [worker]);
      expect(other.complete).toBe(false);
      expect(other.workers[0]!.state).toBe("mismatch");

      const { ctx } = harness(configFile);
      const error = await buildImage(
        ctx,
        `elm-lang.org@ship-${run}`,
        imageOptions("elm-lang.org", {
          context: join(sites, "elm-lang.org/site"),
          hosts: [`root@${address}`, "root@127.0.0.1:1"],
        }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(/is on 1 of 2 workers/);
      expect((error as Error).message).toMatch(/127\.0\.0\.1:1: failed/);
    });
  },
);
