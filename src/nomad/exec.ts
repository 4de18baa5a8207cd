/**
 * Nomad's exec API: a WebSocket at /v1/client/allocation/:id/exec (the servers forward it to the
 * client agent that runs the allocation). Frames are JSON text: the client sends
 * `{"stdin":{"data":<base64>}}`, `{"stdin":{"close":true}}`, `{"tty_size":{"height","width"}}`
 * and `{}` as a heartbeat; the server sends `{"stdout"|"stderr":{"data":<base64>}}` (or
 * `{"close":true}` when that stream ends) and, last, `{"exited":true,"result":{"exit_code":N}}`.
 * A refusal (permission, unknown allocation, a command that cannot start) arrives as a close
 * frame whose reason is Nomad's message. The token travels in the X-Nomad-Token header.
 */
import { WebSocket, type Dispatcher } from "undici";
import { z } from "zod";
import { abortReason, OperationError } from "../errors.js";
import { defaultDeadlineMs, PermissionDeniedError, UnreachableError } from "../http.js";
import { abortable, sleep } from "../wait.js";
import { nomadPermissionFor } from "./permissions.js";

export type ExecStream = "stdout" | "stderr";

export interface TerminalSize {
  rows: number;
  columns: number;
}

export interface ExecRequest {
  allocId: string;
  task: string;
  /** The program and its arguments, run as they are (no shell unless the command is one). */
  command: string[];
  /** A pseudo-terminal for the command: what an interactive shell needs. */
  tty: boolean;
  /** What the command reads; ended by a close frame. Without it stdin is closed at once. */
  stdin?: AsyncIterable<Buffer | string>;
  /** With `tty`: the terminal's size now, and a way to hear of each change (returns the unsubscribe). */
  terminal?: { size(): TerminalSize; onResize(listener: () => void): () => void };
  onOutput(stream: ExecStream, data: Buffer): void;
  /** Ctrl-C: the session is closed and the abort reason thrown. */
  signal: AbortSignal;
}

export interface ExecConnection {
  /** The exec endpoint's ws-less URL (http://…, as the client's address), with its query. */
  url: string;
  /** How messages name Nomad's address. */
  where: string;
  /** The endpoint's path, for messages and the permission a refusal names. */
  path: string;
  token?: string;
  dispatcher?: Dispatcher;
  /** How long the session may take to open (default: the API's 10 s). */
  openDeadlineMs?: number;
}

/** Pure: the exec endpoint's query, as Nomad's own client sends it. */
export function execQuery(
  request: Pick<ExecRequest, "task" | "command" | "tty">,
): Record<string, string> {
  return { task: request.task, command: JSON.stringify(request.command), tty: String(request.tty) };
}

/** Pure: the frames the client sends. */
export const execFrames = {
  stdin: (data: Buffer | string) =>
    JSON.stringify({ stdin: { data: Buffer.from(data).toString("base64") } }),
  stdinClosed: () => JSON.stringify({ stdin: { close: true } }),
  terminalSize: (size: TerminalSize) =>
    JSON.stringify({ tty_size: { height: size.rows, width: size.columns } }),
  heartbeat: () => "{}",
};

const ioOperation = z.looseObject({ data: z.string().optional(), close: z.boolean().optional() });
const serverFrame = z.looseObject({
  stdout: ioOperation.optional(),
  stderr: ioOperation.optional(),
  exited: z.boolean().optional(),
  result: z.looseObject({ exit_code: z.number().int().optional() }).nullish(),
});

export type ExecFrame =
  | { kind: "output"; stream: ExecStream; data: Buffer }
  | { kind: "closed"; stream: ExecStream }
  | { kind: "exited"; exitCode: number }
  | { kind: "heartbeat" };

/** Pure: what one frame from Nomad says; undefined for one that is not an exec frame. */
export function readExecFrame(text: string): ExecFrame | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = serverFrame.safeParse(json);
  if (!parsed.success) return undefined;
  const frame = parsed.data;
  if (frame.exited) return { kind: "exited", exitCode: frame.result?.exit_code ?? 0 };
  for (const stream of ["stdout", "stderr"] as const) {
    const op = frame[stream];
    if (!op) continue;
    if (op.data !== undefined)
      return { kind: "output", stream, data: Buffer.from(op.data, "base64") };
    if (op.close) return { kind: "closed", stream };
  }
  return { kind: "heartbeat" };
}

/**
 * Pure: why a session ended without an exit code, from its close frame. Nomad says a refusal in
 * the close reason: a permission names the capability the token lacks.
 */
export function sessionEndedError(
  close: { code: number; reason: string },
  connection: Pick<ExecConnection, "where" | "path">,
  opened: boolean,
): Error {
  const reason = close.reason.trim();
  if (/permission denied|ACL token not found/i.test(reason)) {
    const permission = nomadPermissionFor("GET", connection.path);
    return new PermissionDeniedError(
      "Nomad",
      { method: "GET", path: connection.path },
      permission,
      connection.where,
      `the Nomad token needs ${permission} (with read-job) in the job's namespace; set ELM_INFRA_NOMAD_TOKEN or nomadToken in secrets/<target>.yaml`,
    );
  }
  if (!opened && !reason)
    return new UnreachableError("Nomad", connection.where, "unreachable", defaultDeadlineMs);
  return new OperationError(
    `Nomad ended the exec session before the command's exit code came${reason ? `: ${reason}` : ""} (WebSocket close ${close.code})`,
    /unknown allocation|not found|not running/i.test(reason)
      ? "the allocation may have stopped meanwhile: elm-infra status <service> lists the running ones"
      : "that is Nomad's reason; a command missing from the image cannot start (the image has sh)",
  );
}

/** Pure: the exit code elm-infra ends with for the command's own (a process exit code is 0-255). */
export function exitCodeOf(code: number): number {
  return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
}

/**
 * One exec session: opens the WebSocket, passes stdin and the terminal's size on, hands each
 * output frame to `onOutput`, and resolves with the command's exit code. Rejects when the
 * session ends without one (with Nomad's reason), when it does not open within the deadline,
 * and with the abort reason on Ctrl-C (the session is closed).
 */
export function runExecSession(connection: ExecConnection, request: ExecRequest): Promise<number> {
  const { signal } = request;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  let ws: WebSocket | undefined;
  // Ctrl-C closes the session and ends the command with the abort reason at once.
  return abortable(
    new Promise<number>((resolve, reject) => {
      ws = openSession(connection, request, resolve, reject);
    }),
    signal,
    () => ws?.close(),
  );
}

function openSession(
  connection: ExecConnection,
  request: ExecRequest,
  resolve: (exitCode: number) => void,
  reject: (error: unknown) => void,
): WebSocket {
  const ws = new WebSocket(connection.url.replace(/^http/, "ws"), {
    headers: connection.token ? { "X-Nomad-Token": connection.token } : {},
    ...(connection.dispatcher ? { dispatcher: connection.dispatcher } : {}),
  });
  ws.binaryType = "arraybuffer";
  let opened = false;
  let settled = false;
  const cleanups: Array<() => void> = [];
  const finish = (settle: () => void) => {
    if (settled) return;
    settled = true;
    for (const cleanup of cleanups) cleanup();
    settle();
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
  };
  const send = (frame: string) => {
    if (!settled && ws.readyState === WebSocket.OPEN) ws.send(frame);
  };

  // The session must open within the deadline: Nomad stopped or hung does not hold the command.
  const openDeadlineMs = connection.openDeadlineMs ?? defaultDeadlineMs;
  const openWait = new AbortController();
  cleanups.push(() => openWait.abort());
  sleep(openDeadlineMs, openWait.signal).then(
    () =>
      finish(() =>
        reject(new UnreachableError("Nomad", connection.where, "timeout", openDeadlineMs)),
      ),
    () => undefined,
  );

  ws.onopen = () => {
    opened = true;
    openWait.abort();
    if (request.tty && request.terminal) {
      const terminal = request.terminal;
      send(execFrames.terminalSize(terminal.size()));
      cleanups.push(terminal.onResize(() => send(execFrames.terminalSize(terminal.size()))));
    }
    // Nomad's own client beats every 10 s, so a quiet session is not taken for a dead one.
    const heartbeat = setInterval(() => send(execFrames.heartbeat()), 10_000);
    cleanups.push(() => clearInterval(heartbeat));
    void passStdin();
  };
  const passStdin = async () => {
    try {
      if (request.stdin)
        for await (const chunk of request.stdin) {
          if (settled) return;
          send(execFrames.stdin(chunk));
        }
      send(execFrames.stdinClosed());
    } catch {
      send(execFrames.stdinClosed());
    }
  };
  ws.onmessage = (event: { data: unknown }) => {
    const text =
      typeof event.data === "string"
        ? event.data
        : Buffer.from(event.data as ArrayBuffer).toString("utf8");
    const frame = readExecFrame(text);
    if (!frame)
      return finish(() =>
        reject(
          new OperationError(
            `${connection.where} sent something that is not a Nomad exec frame on ${connection.path}`,
            "check that the address is Nomad's API",
          ),
        ),
      );
    if (frame.kind === "output") request.onOutput(frame.stream, frame.data);
    else if (frame.kind === "exited") finish(() => resolve(frame.exitCode));
  };
  ws.onclose = (event: { code: number; reason: string }) =>
    finish(() => reject(sessionEndedError(event, connection, opened)));
  // An error is followed by a close, which says what ended the session.
  ws.onerror = () => undefined;
  return ws;
}
