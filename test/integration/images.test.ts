/**
 * The service images and the image command against the real Docker engine: both images build
 * from the fixture sites on elm-infra/base, run as non-root, and answer /health with their
 * version; a broken Dockerfile, a bad tag and a missing context fail clearly; a push never shows
 * the password. When elm-infra/registry:latest exists, the local target's registry (TLS from its
 * own CA, htpasswd) is set up as bring-up does, pushed to, asked for manifests, refused with a
 * wrong password or name, and its log is checked for the user and password.
 */
import { execa } from "execa";
import { dump, load } from "js-yaml";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, type ImageOptions } from "../../src/commands/image.js";
import { createContext, type CommandContext } from "../../src/tasks/context.js";
import { RegistryApi } from "../../src/docker/registry-api.js";
import { ConfigError, OperationError, UsageError } from "../../src/errors.js";
import {
  registryApi,
  registryTrust,
  requireImageInRegistry,
  setUpLocalRegistry,
} from "../../src/tasks/registry.js";
import { Agent, request } from "undici";
import { Output } from "../../src/output/output.js";

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
  // The repository's services, with two targets of our own: `local` (registry none: tagged
  // here only) and `production`, whose registry is a closed loopback port so a push fails without leaving.
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
        local: { ...target, registry: "none" },
        production: { ...target, registry: "127.0.0.1:1/elm-lang" },
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

const registryImage = "elm-infra/registry:latest";
const registryAvailable =
  (await execa("docker", ["image", "inspect", registryImage], { reject: false })).exitCode === 0;

describe.skipIf(!registryAvailable)(
  `the local target's registry: TLS from its own CA, htpasswd (needs ${registryImage})`,
  () => {
    // A target of its own whose registry container is the one iac/local runs, on a free port.
    const target = `it${run}`;
    const container = `${target}-registry`;
    const username = `elm-registry-it${run}`;
    const password = `pw-${run}-r3gistry`;
    let push: string;
    let registryConfig: string;

    beforeAll(async () => {
      containers.push(container);
      await docker(
        "run",
        "-d",
        "--name",
        container,
        "-e",
        "REGISTRY_TLS_NAMES=IP:127.0.0.1,DNS:localhost",
        "-p",
        "127.0.0.1::5000",
        registryImage,
      );
      push = (await docker("port", container, "5000/tcp")).split("\n")[0]!;
      registryConfig = join(work, "registry-cluster.yaml");
      const cluster = load(await readFile(configFile, "utf8")) as {
        targets: Record<string, Record<string, unknown>>;
      };
      cluster.targets[target] = {
        ...cluster.targets.production,
        registry: { push, pull: "10.213.0.5:5000" },
      };
      await writeFile(registryConfig, dump(cluster));
      await mkdir(join(work, "secrets"), { recursive: true });
      await writeFile(
        join(work, "secrets", `${target}.yaml`),
        dump({ registryUsername: username, registryPassword: password }),
        { mode: 0o600 },
      );
      // The container makes its CA at its first start: wait (bounded) until it serves TLS.
      for (let i = 0; ; i++) {
        const ok = await execa(
          "docker",
          ["exec", container, "test", "-s", "/var/lib/docker-registry/tls/cert.pem"],
          { reject: false },
        );
        if (ok.exitCode === 0) break;
        if (i >= 30) throw new Error(`${container} made no certificate in 30 s`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }, 120_000);

    const config = async () => {
      const { loadConfig } = await import("../../src/config/load.js");
      return loadConfig({ file: registryConfig, target, env: {} });
    };

    it("bring-up's setup sets the password through stdin and records the CA; anonymous is refused", async () => {
      const lines: string[] = [];
      const loaded = await config();
      const ca = await setUpLocalRegistry(loaded, (l) => lines.push(l));
      expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(await readFile(join(work, ".elm-infra", target, "registry-ca.pem"), "utf8")).toBe(ca);
      expect(lines.join("\n")).toMatch(/password was set/);
      // a second run changes nothing
      const again: string[] = [];
      await setUpLocalRegistry(loaded, (l) => again.push(l));
      expect(again.join("\n")).toMatch(/password is set already/);
      // the password never in any argv: htpasswd read it from stdin (the file holds only a bcrypt hash)
      const file = await docker("exec", container, "cat", "/var/lib/docker-registry/htpasswd");
      expect(file).toMatch(new RegExp(`^${username}:\\$2y\\$`));
      expect(file).not.toContain(password);

      const anonymous = await request(`https://${push}/v2/`, {
        dispatcher: new Agent({ connect: { ca } }),
      });
      await anonymous.body.dump();
      expect(anonymous.statusCode).toBe(401);
      const anonymousPull = await request(`https://${push}/v2/elm-lang.org/manifests/x`, {
        dispatcher: new Agent({ connect: { ca } }),
      });
      await anonymousPull.body.dump();
      expect(anonymousPull.statusCode).toBe(401);
    });

    it("image pushes there; the manifest check finds the tag and refuses a missing one with exit 2", async () => {
      const { ctx, lines } = harness(registryConfig, target);
      const tag = `reg-${run}`;
      images.push(`10.213.0.5:5000/elm-lang.org:${tag}`, `${push}/elm-lang.org:${tag}`);
      const result = await buildImage(
        ctx,
        `elm-lang.org@${tag}`,
        imageOptions("elm-lang.org", { context: join(sites, "elm-lang.org/site") }),
      );
      expect(result.ref).toBe(`10.213.0.5:5000/elm-lang.org:${tag}`);
      expect(result.delivery).toMatchObject({ kind: "pushed", registry: push });
      if (result.delivery.kind === "pushed")
        expect(result.delivery.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(lines.join("\n")).not.toContain(password);

      const loaded = await config();
      await requireImageInRegistry(loaded, "elm-lang.org", tag);
      const missing = await requireImageInRegistry(loaded, "elm-lang.org", `no-such-${run}`).catch(
        (e: unknown) => e,
      );
      expect(missing).toBeInstanceOf(UsageError);
      expect((missing as UsageError).exitCode).toBe(2);
      expect((missing as Error).message).toContain(`10.213.0.5:5000/elm-lang.org:no-such-${run}`);
      expect((missing as Error).message).toContain(`is not in the registry ${push}`);
    });

    it("the pre-check refuses a wrong password and a wrong registry name, naming the registry", async () => {
      const loaded = await config();
      const api = await registryApi(loaded);
      await api.checkAccess("elm-lang.org");
      const trust = await registryTrust(loaded);
      const wrongPassword = await new RegistryApi(
        push,
        { username, password: `${password}-wrong` },
        trust,
      )
        .checkAccess("elm-lang.org")
        .catch((e: unknown) => e);
      expect(wrongPassword).toBeInstanceOf(ConfigError);
      expect((wrongPassword as Error).message).toContain(`the registry ${push} refused them`);
      const wrongUser = await new RegistryApi(push, { username: "nobody", password }, trust)
        .checkAccess("elm-lang.org")
        .catch((e: unknown) => e);
      expect(wrongUser).toBeInstanceOf(ConfigError);
      // A registry name that answers nothing: said unreachable, with the address.
      const wrongName = await new RegistryApi("127.0.0.1:1", { username, password }, trust)
        .checkAccess("elm-lang.org")
        .catch((e: unknown) => e);
      expect(wrongName).toBeInstanceOf(OperationError);
      expect((wrongName as Error).message).toContain("127.0.0.1:1");
      for (const e of [wrongPassword, wrongUser, wrongName])
        expect(String((e as Error).message)).not.toContain(password);
    });

    it("logs no request: neither the user nor the password is in the container's log", async () => {
      const log = await execa("docker", ["logs", container], { reject: false, all: true });
      expect(log.all).not.toContain(username);
      expect(log.all).not.toContain(password);
      expect(log.all).not.toMatch(/http\.request/);
    });
  },
);
