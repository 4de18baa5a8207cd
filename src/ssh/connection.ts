/** A typed SSH client on ssh2: key auth, host-key pinning, exec, local port forwarding. */
import { readPrivateKey } from "./keys.js";
import { createServer, type Server, type Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Client, type ClientChannel } from "ssh2";
import { abortReason, OperationError } from "../errors.js";
import { abortable } from "../wait.js";
import { HostKeyMismatchError, RemoteCommandError, SshConnectError } from "./errors.js";
import { checkHostKey, type HostKeyPolicy } from "./host-keys.js";

export interface SshTarget {
  host: string;
  /** Default 22. */
  port?: number;
  /** Default "root". */
  username?: string;
  privateKeyPath: string;
  /** known_hosts-style file where host keys are pinned on first contact. */
  knownHostsPath: string;
  /** Default "pin-on-first-contact". */
  hostKeyPolicy?: HostKeyPolicy;
  /** Bound on TCP connect + handshake + auth; default 15 s. */
  timeoutMs?: number;
  /** Ctrl-C: the connect is abandoned at once (its socket closed) with the abort reason. */
  signal?: AbortSignal;
}

export interface ExecOptions {
  /** Throw RemoteCommandError when the command does not exit 0. */
  check?: boolean;
  /** Written to the command's stdin, which is then closed. */
  stdin?: string;
  /** Default 5 minutes; the channel is closed and OperationError thrown when it passes. */
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** null when the command was killed by a signal. */
  status: number | null;
  signal?: string;
}

export interface PortForward {
  /** The 127.0.0.1 port that reaches remoteHost:remotePort through the connection. */
  localPort: number;
  close(): Promise<void>;
}

/**
 * Opens an SSH connection with a private key, checking the host key against the pinned one.
 * Throws the abort reason (InterruptedError) at once when `target.signal` aborts, even while a
 * host that accepts TCP but never answers holds the handshake.
 */
export async function connectSsh(target: SshTarget): Promise<SshConnection> {
  if (target.signal?.aborted) throw abortReason(target.signal);
  const port = target.port ?? 22;
  const label = port === 22 ? target.host : `${target.host}:${port}`;
  const privateKey = await readPrivateKey(
    target.privateKeyPath,
    (why) =>
      new SshConnectError(
        `cannot read the SSH private key ${target.privateKeyPath}: ${why}`,
        "check ssh.privateKey in cluster.yaml",
      ),
  );
  const client = new Client();
  let hostKeyError: unknown;
  const connecting = new Promise<SshConnection>((resolve, reject) => {
    const fail = (cause: Error) => {
      client.end();
      if (hostKeyError instanceof HostKeyMismatchError) return reject(hostKeyError);
      if (hostKeyError)
        return reject(
          new SshConnectError(
            `cannot check ${label}'s host key: ${String(hostKeyError)}`,
            undefined,
            { cause: hostKeyError },
          ),
        );
      const level = (cause as { level?: string }).level;
      const hint =
        level === "client-authentication"
          ? `the host did not accept the key ${target.privateKeyPath} for ${target.username ?? "root"}`
          : `check that ${label} is up and that sshd listens on port ${port}`;
      reject(
        new SshConnectError(`cannot connect to ${label} over SSH: ${cause.message}`, hint, {
          cause,
        }),
      );
    };
    // A connection the host closes after its banner (a host going down, a reboot stopping sshd)
    // ends with no error from ssh2, which also stops its handshake timer: without this the
    // promise would never settle and nothing would keep the process waiting for it.
    const closedEarly = () =>
      fail(new Error("the connection closed before the handshake finished"));
    client.once("ready", () => {
      client.off("error", fail);
      client.off("close", closedEarly);
      resolve(new SshConnection(client, label));
    });
    // `on`, not `once`: a connection to a host going down can fail twice (a reset, then "lost
    // before handshake"), and a second error without a listener would end the process.
    client.on("error", fail);
    client.once("close", closedEarly);
    client.connect({
      host: target.host,
      port,
      username: target.username ?? "root",
      privateKey,
      readyTimeout: target.timeoutMs ?? 15_000,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (keyBlob: Buffer, verify: (valid: boolean) => void) => {
        checkHostKey({
          knownHostsPath: target.knownHostsPath,
          host: target.host,
          port,
          keyBlob,
          policy: target.hostKeyPolicy ?? "pin-on-first-contact",
        }).then(
          () => verify(true),
          (error: unknown) => {
            hostKeyError = error;
            verify(false);
          },
        );
      },
    });
  });
  return abortable(connecting, target.signal, () => client.destroy());
}

export class SshConnection {
  private closed = false;
  private readonly forwards = new Set<PortForward>();

  constructor(
    private readonly client: Client,
    /** host or host:port, for messages. */
    readonly label: string,
  ) {
    // A dropped connection must not crash the process through an unhandled 'error' event;
    // calls made afterwards fail with their own errors.
    client.on("error", () => undefined);
    client.on("close", () => {
      this.closed = true;
    });
  }

  /** Runs a command through the remote user's shell and collects its output. */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.assertOpen();
    const timeoutMs = options.timeoutMs ?? 300_000;
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (error, channel) => {
        if (error)
          return reject(
            new SshConnectError(
              `on ${this.label}: cannot start \`${command}\`: ${error.message}`,
              undefined,
              { cause: error },
            ),
          );
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let status: number | null = null;
        let signal: string | undefined;
        const timer = setTimeout(() => {
          channel.close();
          reject(
            new OperationError(
              `on ${this.label}: \`${command}\` did not finish within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        channel.on("data", (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
        channel.on("exit", (code: number | null, signalName?: string) => {
          status = code ?? null;
          signal = signalName ?? undefined;
        });
        channel.on("close", () => {
          clearTimeout(timer);
          const result: ExecResult = {
            stdout: Buffer.concat(stdout).toString("utf8"),
            stderr: Buffer.concat(stderr).toString("utf8"),
            status,
            ...(signal ? { signal } : {}),
          };
          if (options.check && (status !== 0 || signal)) {
            return reject(
              new RemoteCommandError(
                this.label,
                command,
                status,
                signal,
                result.stdout,
                result.stderr,
              ),
            );
          }
          resolve(result);
        });
        if (options.stdin !== undefined) channel.end(options.stdin);
        else channel.end();
      });
    });
  }

  /**
   * Runs a command with its stdin and stdout as streams (bytes, never decoded): for archives
   * piped between hosts. Resolves with the exit status and the stderr text once both ended.
   */
  execStream(
    command: string,
    io: { stdin?: Readable; stdout?: Writable; timeoutMs?: number },
  ): Promise<{ status: number | null; stderr: string }> {
    this.assertOpen();
    const timeoutMs = io.timeoutMs ?? 600_000;
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, channel) => {
        if (error)
          return reject(
            new SshConnectError(`on ${this.label}: cannot start \`${command}\`: ${error.message}`),
          );
        const stderr: Buffer[] = [];
        let status: number | null = null;
        const timer = setTimeout(() => {
          channel.close();
          reject(new OperationError(`on ${this.label}: \`${command}\` took over ${timeoutMs} ms`));
        }, timeoutMs);
        channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
        channel.on("exit", (code: number | null) => void (status = code ?? null));
        // The exit status arrives before "close", which may come after the output's end.
        const closed = new Promise<void>((done) => channel.on("close", () => done()));
        const finished = io.stdout
          ? Promise.all([pipeline(channel, io.stdout), closed])
          : (channel.resume(), closed);
        if (io.stdin) io.stdin.pipe(channel);
        else channel.end();
        finished.then(
          () => {
            clearTimeout(timer);
            resolve({ status, stderr: Buffer.concat(stderr).toString("utf8") });
          },
          (cause: unknown) => {
            clearTimeout(timer);
            reject(new OperationError(`on ${this.label}: \`${command}\` failed: ${String(cause)}`));
          },
        );
      });
    });
  }

  /**
   * Listens on 127.0.0.1 (a free port unless one is given) and forwards each connection to
   * remoteHost:remotePort as seen from the SSH server, like `ssh -L`.
   */
  forwardLocalPort(
    remoteHost: string,
    remotePort: number,
    options: { localPort?: number } = {},
  ): Promise<PortForward> {
    this.assertOpen();
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      this.client.forwardOut(
        "127.0.0.1",
        socket.remotePort ?? 0,
        remoteHost,
        remotePort,
        (error, channel: ClientChannel) => {
          if (error) {
            socket.destroy();
            return;
          }
          socket.pipe(channel).pipe(socket);
          channel.on("error", () => socket.destroy());
          socket.on("error", () => channel.close());
          channel.on("close", () => socket.destroy());
        },
      );
    });
    return new Promise<PortForward>((resolve, reject) => {
      server.once("error", (cause) =>
        reject(
          new OperationError(
            `cannot listen on 127.0.0.1:${options.localPort ?? 0} for a tunnel to ${remoteHost}:${remotePort}`,
            undefined,
            { cause },
          ),
        ),
      );
      server.listen(options.localPort ?? 0, "127.0.0.1", () => {
        const address = server.address();
        const localPort = typeof address === "object" && address ? address.port : 0;
        const forward: PortForward = {
          localPort,
          close: () =>
            new Promise<void>((done) => {
              this.forwards.delete(forward);
              for (const socket of sockets) socket.destroy();
              server.close(() => done());
            }),
        };
        this.forwards.add(forward);
        resolve(forward);
      });
    });
  }

  /** Closes the port forwards and the connection. */
  async close(): Promise<void> {
    await Promise.all([...this.forwards].map((f) => f.close()));
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      this.client.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.end();
    });
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new SshConnectError(`the SSH connection to ${this.label} is closed`);
  }
}
