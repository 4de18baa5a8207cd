import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { ElmInfraError, OperationError, UsageError } from "../errors.js";
import { redact, registerSecret } from "../output/redact.js";
import { packContext, planContext, type ContextSource } from "./context.js";
import {
  builtImageId,
  describeBuildFailure,
  messageError,
  messageLines,
  ProgressDecoder,
  pushedDigest,
  StreamLines,
  type ProgressMessage,
} from "./progress.js";

/** How to reach a Docker engine through SSH (`docker system dial-stdio` on the far side). */
export interface SshEngine {
  host: string;
  port?: number;
  username: string;
  privateKey: string | Buffer;
  /**
   * Checks the host's key (the raw key blob), rejecting when it is not the pinned one; the
   * rejection is what the failed call reports. Without it any key is accepted.
   */
  checkHostKey?: (key: Buffer) => Promise<void>;
  readyTimeoutMs?: number;
}

export interface BuildRequest {
  /** Folders that make the context; the first holds the Dockerfile and `.dockerignore`. */
  context: ContextSource[];
  /** Path of the Dockerfile inside the context. */
  dockerfile?: string;
  /** Full references to tag the result with, e.g. `elm-lang.org:1.4.2`. */
  tags: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Each line of the build log, as it comes. */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ImageInfo {
  /** The image ID (`sha256:…`, the digest of its configuration): equal IDs mean equal images. */
  id: string;
  repoTags: string[];
  /** `<registry>/<repository>@sha256:…` for each registry the image was pushed to or pulled from. */
  repoDigests: string[];
  labels: Record<string, string>;
  created: string;
  size: number;
}

/** Credentials for `docker push`. The password is registered for redaction and never echoed. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** The registry host, e.g. `registry.digitalocean.com`. */
  serveraddress: string;
}

/**
 * A Docker engine: the local one (the socket, or DOCKER_HOST) or one reached over SSH. The only
 * code in elm-infra that talks to Docker.
 */
export class DockerClient {
  private constructor(
    private readonly docker: Docker,
    /** Where the engine is, for messages: "local engine" or "root@10.0.0.5:22". */
    readonly where: string,
    /** Why the engine's host key was refused, if it was: that, not SSH's "handshake failed", is reported. */
    private readonly hostKeyRefusal: () => unknown = () => undefined,
  ) {}

  static local(): DockerClient {
    return new DockerClient(new Docker(), "local engine");
  }

  static overSsh(engine: SshEngine): DockerClient {
    const port = engine.port ?? 22;
    const check = engine.checkHostKey;
    let refusal: unknown;
    const docker = new Docker({
      protocol: "ssh",
      host: engine.host,
      port,
      username: engine.username,
      sshOptions: {
        privateKey: engine.privateKey,
        readyTimeout: engine.readyTimeoutMs ?? 20_000,
        ...(check
          ? {
              hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
                check(key).then(
                  () => verify(true),
                  (error: unknown) => {
                    refusal = error;
                    verify(false);
                  },
                );
              },
            }
          : {}),
      },
    } as Docker.DockerOptions);
    return new DockerClient(docker, `${engine.username}@${engine.host}:${port}`, () => refusal);
  }

  async ping(): Promise<void> {
    await this.call("reach the Docker engine", () => this.docker.ping());
  }

  /** Builds an image; a failing step becomes an OperationError showing that step's output. */
  async build(request: BuildRequest): Promise<ImageInfo> {
    const name = request.tags[0];
    if (!name) throw new UsageError("a build needs at least one tag");
    const plan = await planContext(request.context);
    const stream = await this.call(`start building ${name}`, () =>
      this.docker.buildImage(packContext(plan), {
        t: name,
        dockerfile: request.dockerfile ?? "Dockerfile",
        buildargs: request.buildArgs ?? {},
        labels: request.labels ?? {},
        rm: true,
        forcerm: true,
        ...(request.signal ? { abortSignal: request.signal } : {}),
      }),
    );
    const lines: string[] = [];
    const log = (line: string): void => {
      lines.push(line);
      request.onLog?.(line);
    };
    const output = new StreamLines();
    const { messages, error } = await readProgress(stream, (m) => {
      const batch = m.stream !== undefined ? output.push(m.stream) : messageLines(m);
      batch.forEach(log);
    });
    output.end().forEach(log);
    if (error !== undefined) {
      throw new OperationError(
        describeBuildFailure(name, lines, error),
        "fix the step above (or the build context) and build again",
      );
    }
    const id = builtImageId(messages);
    if (!id)
      throw new OperationError(
        `the build of ${name} ended without an image`,
        "run the build again with --verbose",
      );
    for (const extra of request.tags.slice(1)) await this.tag(id, extra);
    const info = await this.inspect(id);
    if (!info)
      throw new OperationError(`the image ${id} of ${name} disappeared right after its build`);
    return info;
  }

  /** The image's ID, tags, digests and labels; undefined when the engine does not have it. */
  async inspect(ref: string): Promise<ImageInfo | undefined> {
    try {
      const raw = await this.docker.getImage(ref).inspect();
      return {
        id: raw.Id,
        repoTags: raw.RepoTags ?? [],
        repoDigests: raw.RepoDigests ?? [],
        labels: raw.Config?.Labels ?? {},
        created: raw.Created,
        size: raw.Size,
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.failure(`inspect image ${ref}`, error);
    }
  }

  /** Tags `source` (an ID or reference) as `target` (`<repository>:<tag>`). */
  async tag(source: string, target: string): Promise<void> {
    const { repository, tag } = splitReference(target);
    await this.call(`tag ${source} as ${target}`, () =>
      this.docker.getImage(source).tag({ repo: repository, tag }),
    );
  }

  /** Pushes `<registry>/<repository>:<tag>`; returns the manifest digest the registry gave it. */
  async push(ref: string, auth: RegistryAuth, onLog?: (line: string) => void): Promise<string> {
    registerSecret(auth.password);
    registerSecret(Buffer.from(JSON.stringify(auth)).toString("base64")); // the X-Registry-Auth header
    const { repository, tag } = splitReference(ref);
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.docker
        .getImage(repository)
        .push({ tag, authconfig: { ...auth } })) as NodeJS.ReadableStream;
    } catch (error) {
      throw redactedFailure(this.failure(`push ${ref}`, error));
    }
    const { messages, error } = await readProgress(stream, (m) => {
      if (m.progress) return; // byte counters: too many lines, no information
      for (const line of messageLines(m)) onLog?.(redact(line));
    });
    if (error !== undefined) {
      throw new OperationError(redact(`pushing ${ref} failed: ${error}`), pushHint(error));
    }
    const digest = pushedDigest(messages);
    if (!digest)
      throw new OperationError(
        `the registry did not report a digest for ${ref}`,
        "check the registry, then push again",
      );
    return digest;
  }

  /** `docker save`: a tar stream of the image with its tags. */
  async save(ref: string): Promise<Readable> {
    return this.call(`save ${ref}`, () => this.docker.getImage(ref).get() as Promise<Readable>);
  }

  /** `docker load` from a file made by `save`. */
  async loadFile(file: string, onLog?: (line: string) => void): Promise<void> {
    const stream = await this.call(`load an image into ${this.where}`, () =>
      this.docker.loadImage(createReadStream(file), { quiet: true }),
    );
    const { error } = await readProgress(stream, (m) => {
      for (const line of messageLines(m)) onLog?.(line);
    });
    if (error !== undefined)
      throw new OperationError(`loading the image into ${this.where} failed: ${error}`);
  }

  /** Removes an image reference; a missing image is not an error. */
  async remove(ref: string, options: { force?: boolean } = {}): Promise<void> {
    try {
      await this.docker.getImage(ref).remove({ force: options.force ?? false, noprune: false });
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw this.failure(`remove image ${ref}`, error);
    }
  }

  /**
   * Runs a command in a running container and returns what it printed (a terminal: stdout and
   * stderr together). A non-zero exit or a command still running after `deadlineMs` is an error.
   */
  async execOutput(container: string, cmd: string[], deadlineMs = 15_000): Promise<string> {
    const what = `run ${cmd[0]} in the container ${container}`;
    const exec = await this.call(what, () =>
      this.docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, Tty: true }),
    );
    const stream = await this.call(what, () => exec.start({ Tty: true }));
    const chunks: Buffer[] = [];
    await readToEnd(stream, what, deadlineMs, (c) => chunks.push(c));
    const output = Buffer.concat(chunks).toString("utf8").replace(/\r\n/g, "\n");
    const { ExitCode } = await this.call(what, () => exec.inspect());
    if (ExitCode !== 0)
      throw new OperationError(`${what}: exit ${ExitCode}: ${output.trim().slice(0, 300)}`);
    return output;
  }

  /**
   * Runs a command in a running container with `input` on its stdin (a password: never in its
   * argv) and returns its exit code. What it prints is read and dropped, never shown.
   */
  async execWithInput(
    container: string,
    cmd: string[],
    input: string,
    deadlineMs = 15_000,
  ): Promise<number> {
    const what = `run ${cmd[0]} in the container ${container}`;
    const exec = await this.call(what, () =>
      this.docker.getContainer(container).exec({
        Cmd: cmd,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      }),
    );
    const stream = await this.call(what, () => exec.start({ hijack: true, stdin: true }));
    stream.end(input);
    await readToEnd(stream, what, deadlineMs, () => undefined);
    const { ExitCode } = await this.call(what, () => exec.inspect());
    return ExitCode ?? -1;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  private failure(what: string, error: unknown): ElmInfraError {
    const refusal = this.hostKeyRefusal();
    if (refusal instanceof ElmInfraError) return refusal;
    const detail = engineMessage(error);
    const unreachable =
      /ECONNREFUSED|ENOENT|EHOSTUNREACH|ETIMEDOUT|Timed out while waiting for handshake|All configured authentication methods failed/.test(
        detail,
      );
    return new OperationError(
      `could not ${what} (${this.where}): ${detail}`,
      unreachable
        ? `check that the Docker engine on ${this.where} is running and reachable`
        : undefined,
      { cause: error },
    );
  }
}

/** Reads an exec's stream to its end, or destroys it and fails after `deadlineMs`. */
async function readToEnd(
  stream: NodeJS.ReadWriteStream & { destroy(): void },
  what: string,
  deadlineMs: number,
  onData: (chunk: Buffer) => void,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve, reject) => {
      stream.on("data", onData);
      stream.on("end", () => resolve());
      stream.on("error", reject);
    }),
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => {
        stream.destroy();
        reject(new OperationError(`${what}: no end within ${deadlineMs / 1000} s`));
      }, deadlineMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Splits `registry:5000/repo/name:tag` into repository and tag (the tag defaults to `latest`). */
export function splitReference(ref: string): { repository: string; tag: string } {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref, tag: "latest" };
}

/** Reads a JSON progress stream to its end; the first error message ends it as failed. */
async function readProgress(
  stream: NodeJS.ReadableStream,
  onMessage: (m: ProgressMessage) => void,
): Promise<{ messages: ProgressMessage[]; error?: string }> {
  const decoder = new ProgressDecoder();
  const messages: ProgressMessage[] = [];
  let error: string | undefined;
  const take = (batch: ProgressMessage[]): void => {
    for (const m of batch) {
      messages.push(m);
      const failed = messageError(m);
      if (failed !== undefined) error ??= failed;
      else onMessage(m);
    }
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>)
      take(decoder.push(chunk.toString()));
  } catch (e) {
    error ??= engineMessage(e);
  }
  take(decoder.end());
  return error === undefined ? { messages } : { messages, error };
}

function statusOf(error: unknown): number | undefined {
  return typeof error === "object" && error !== null && "statusCode" in error
    ? Number(error.statusCode)
    : undefined;
}

/** The engine's own words from a dockerode error ("(HTTP code 404) no such image - …" → the tail). */
function engineMessage(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const json = (error as { json?: unknown }).json;
    if (json && typeof json === "object" && "message" in json && typeof json.message === "string")
      return json.message;
    if (error instanceof Error) return error.message;
  }
  return String(error);
}

function pushHint(error: string): string {
  if (/unauthorized|authentication required|denied/i.test(error)) {
    return "check the registry credentials (ELM_INFRA_REGISTRY_USERNAME / ELM_INFRA_REGISTRY_PASSWORD)";
  }
  return "check that the registry is reachable, then push again";
}

function redactedFailure(error: ElmInfraError): OperationError {
  // The cause (dockerode's error) may carry the request; drop it rather than risk the password.
  return new OperationError(redact(error.message), error.hint && redact(error.hint));
}
