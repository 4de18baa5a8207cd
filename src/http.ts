import { Agent, RetryAgent, request, type Dispatcher } from "undici";
import { Readable } from "node:stream";
import { z } from "zod";
import { abortReason, OperationError, UnexpectedAnswerError } from "./errors.js";
import { quote } from "./output/quote.js";

/**
 * The one HTTP JSON wrapper the API clients (Nomad, Consul, Traefik) stand on: a stated deadline
 * on every call (a blocking query's is its wait plus the same margin), retries of idempotent
 * reads by undici's RetryAgent, JSON in and out, and failures said in our words with the address.
 * Every answer is read with a size bound and checked against the schema its call states: a server
 * that answers something else is said to, with what was wrong, never trusted in shape.
 */
export interface HttpCall<S extends z.ZodType = z.ZodType> {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON (an object), text as it is, or a stream sent as it comes (octets). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Overrides the API's deadline for a call that should answer at once. */
  deadlineMs?: number;
  /** A blocking query: the server may hold the answer this long; the deadline adds it. */
  waitSeconds?: number;
  signal?: AbortSignal;
  /** Return every status as it is instead of turning 4xx/5xx into an HttpError. */
  anyStatus?: boolean;
  /** Error statuses that are still this endpoint's answer, read like a 2xx (Nomad's and Consul's
   * autopilot health answer 429, with the same body, while a server is unhealthy). */
  answerStatuses?: readonly number[];
  /**
   * The answer's shape: its JSON is parsed and checked against it (extra fields are fine).
   * `unreadAnswer` for an answer nothing reads (only bounded), `textAnswer` for a text one.
   */
  answer: S;
}

/** An answer elm-infra does not read (a write's acknowledgement): bounded, not parsed. */
export const unreadAnswer = z.unknown();
/** An answer that is text, not JSON (a task's log, a page through an entrypoint). */
export const textAnswer = z.string();

/** An optional field a server may also send as null (Go's nil list or map): read as absent. */
export function absentIfNull<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null ? undefined : v), schema.optional());
}

/** The most an answer may be: beyond it a server is streaming something that is not an answer. */
export const maxAnswerBytes = 8 * 1024 * 1024;

export interface HttpResponse<T> {
  status: number;
  data: T;
  headers: Record<string, string | string[] | undefined>;
}

/** The server answered with an error status. Clients turn the ones they know into better errors. */
export class HttpError extends OperationError {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly call: { method: string; path: string },
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

/** Why a request got no answer: said as what happened, not as the library names it. */
export type TransportFailure =
  "refused" | "timeout" | "closed" | "not-found" | "tls-handshake" | "unreachable";

/** The server could not be reached, or did not answer within the deadline. */
export class UnreachableError extends OperationError {
  constructor(
    readonly service: string,
    readonly address: string,
    readonly failure: TransportFailure,
    readonly deadlineMs: number,
  ) {
    super(
      describeTransportFailure(service, address, failure, deadlineMs),
      hintForTransportFailure(service, failure),
    );
  }
}

/** The server refused the token; `permission` is what the token needs. */
export class PermissionDeniedError extends OperationError {
  constructor(
    readonly service: string,
    readonly call: { method: string; path: string },
    readonly permission: string,
    address: string,
    hint: string,
  ) {
    super(
      `${service} refused ${call.method} ${call.path}: permission denied; the token needs ${permission} (${service} at ${address})`,
      hint,
    );
  }
}

/**
 * The CA certificates an HTTPS client verifies servers against. `ca` (PEM) replaces the system's
 * roots when given (a test CA, Pebble's root); `source` is how messages name what is trusted.
 */
export interface TlsTrust {
  ca?: string;
  source: string;
}

/** The server's certificate did not verify for the name asked (sent as SNI and Host). */
export class CertificateError extends OperationError {
  constructor(
    readonly service: string,
    readonly address: string,
    readonly hostname: string,
    readonly reason: string,
    trust: Pick<TlsTrust, "source">,
  ) {
    super(
      `${service} at ${address} presented a certificate for ${hostname} that does not verify: ${reason}`,
      `the client trusts ${trust.source}; a server without a certificate for ${hostname} from that CA answers with another (Traefik's default is self-signed): elm-infra status lists the target's certificates`,
    );
  }
}

const certificateReasons: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "issued under a root the client does not trust",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "issued by a CA the client does not trust",
  UNABLE_TO_GET_ISSUER_CERT: "issued by a CA the client does not trust",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "issued by a CA the client does not trust",
  CERT_SIGNATURE_FAILURE: "its signature does not verify",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "not for this name",
};

/**
 * Pure: why a TLS handshake refused the server's certificate, in words (undefined when `error`
 * is no certificate failure). A name mismatch says which names the certificate is for.
 */
export function certificateFailure(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const { code, reason } = e as { code?: unknown; reason?: unknown };
    const said = certificateReasons[String(code)];
    if (said) {
      const names = typeof reason === "string" ? /altnames: (.*)$/.exec(reason)?.[1] : undefined;
      return names ? `${said} (it is for ${names})` : said;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What a call that should answer at once may take, and the margin a blocking query adds. */
export const defaultDeadlineMs = 10_000;

/** Pure: the deadline of one call. */
export function deadlineOf(
  call: Pick<HttpCall, "deadlineMs" | "waitSeconds">,
  apiDeadlineMs = defaultDeadlineMs,
): number {
  const margin = call.deadlineMs ?? apiDeadlineMs;
  return call.waitSeconds === undefined ? margin : call.waitSeconds * 1000 + margin;
}

const codes: Array<[TransportFailure, string[]]> = [
  ["refused", ["ECONNREFUSED"]],
  [
    "timeout",
    [
      "UND_ERR_HEADERS_TIMEOUT",
      "UND_ERR_BODY_TIMEOUT",
      "UND_ERR_CONNECT_TIMEOUT",
      "ETIMEDOUT",
      "ABORT_ERR",
      "TimeoutError",
    ],
  ],
  ["closed", ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_DESTROYED"]],
  ["not-found", ["ENOTFOUND", "EAI_AGAIN"]],
];

/** Pure: what a transport error from undici or Node means, in one of our words. */
export function classifyTransportError(error: unknown): TransportFailure {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    // OpenSSL's own errors: TLS spoken to a port that does not speak it, no common protocol.
    if (/^ERR_SSL_/.test(String(code)) || code === "EPROTO") return "tls-handshake";
    for (const [failure, known] of codes)
      if (known.includes(String(code)) || known.includes(String(name))) return failure;
    e = (e as { cause?: unknown }).cause;
  }
  return "unreachable";
}

/** Pure: the message for a failure, with the service, address and (for a timeout) deadline. */
export function describeTransportFailure(
  service: string,
  address: string,
  failure: TransportFailure,
  deadlineMs: number,
): string {
  switch (failure) {
    case "refused":
      return `${service} is not reachable at ${address}: connection refused`;
    case "timeout":
      return `${service} did not answer within ${Number((deadlineMs / 1000).toFixed(1))} s at ${address}`;
    case "closed":
      return `${service} closed the connection without answering at ${address}`;
    case "not-found":
      return `${service} is not reachable at ${address}: the host name does not resolve`;
    case "tls-handshake":
      return `${service} at ${address} did not complete a TLS handshake: it may not serve HTTPS there`;
    case "unreachable":
      return `${service} is not reachable at ${address}`;
  }
}

function hintForTransportFailure(service: string, failure: TransportFailure): string {
  if (failure === "timeout")
    return `${service} accepted the connection but did not answer: check that it is not overloaded or stopped (its log, its host's load)`;
  if (failure === "tls-handshake")
    return `check that ${service} serves HTTPS on that port (for Traefik: its websecure entrypoint and TLS configuration)`;
  return `check that ${service} is running and that the target's endpoints or hosts point at it`;
}

let sharedRetrying: Dispatcher | undefined;
const retryingDispatchers = new WeakMap<Dispatcher, Dispatcher>();

/**
 * undici's RetryAgent over `base`: idempotent GETs are retried on a refused or reset connection
 * and on 502/503/504, with backoff; the last answer is passed on as it is.
 */
function retrying(base?: Dispatcher): Dispatcher {
  const make = (d: Dispatcher) =>
    new RetryAgent(d, {
      methods: ["GET"],
      maxRetries: 2,
      minTimeout: 300,
      timeoutFactor: 2,
      statusCodes: [502, 503, 504],
      throwOnError: false,
    });
  if (!base) return (sharedRetrying ??= make(new Agent()));
  let d = retryingDispatchers.get(base);
  if (!d) retryingDispatchers.set(base, (d = make(base)));
  return d;
}

export interface JsonApiOptions {
  /** How messages name the server: "Nomad", "Consul", "Traefik's API". */
  name: string;
  /** Base URL. */
  address: string;
  /** How messages name the address, when the URL is a tunnel's local port. */
  where?: string;
  headers?: Record<string, string>;
  deadlineMs?: number;
  dispatcher?: Dispatcher;
  /** An https address: verify the server against these CAs, with the Host header as SNI. */
  tls?: TlsTrust;
  /** Whose answers these are, for "not Nomad's GET /v1/jobs" (default: `name`). */
  service?: string;
}

export function buildUrl(base: string, path: string, query: HttpCall["query"] = {}): string {
  const url = new URL(path, base.endsWith("/") ? base : `${base}/`);
  for (const [k, v] of Object.entries(query))
    if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

/** One server's HTTP API: calls with a deadline, JSON bodies, errors in our words. */
export class JsonApi {
  private readonly dispatcher: Dispatcher;
  /** For `stream`: the same connections without the retries. */
  private readonly streaming: Dispatcher | undefined;
  constructor(readonly options: JsonApiOptions) {
    // undici sends the Host header's name as SNI and checks the certificate against it.
    this.streaming =
      options.dispatcher ??
      (options.tls?.ca ? new Agent({ connect: { ca: options.tls.ca } }) : undefined);
    this.dispatcher = retrying(this.streaming);
  }

  get address(): string {
    return this.options.address;
  }
  /** The address as messages state it. */
  get where(): string {
    return this.options.where ?? this.options.address;
  }

  async call<S extends z.ZodType>(call: HttpCall<S>): Promise<HttpResponse<z.output<S>>> {
    const deadlineMs = deadlineOf(call, this.options.deadlineMs);
    // A body given as a stream (a snapshot being restored) is sent as it comes, never buffered.
    const streamed = call.body instanceof Readable;
    // The deadline bounds the whole call, a body trickled byte by byte included.
    const deadline = AbortSignal.timeout(deadlineMs);
    let status: number;
    let text: string | undefined;
    let headers: HttpResponse<unknown>["headers"];
    try {
      const res = await request(buildUrl(this.options.address, call.path, call.query), {
        method: call.method,
        headers: {
          ...(call.body !== undefined && !streamed ? { "content-type": "application/json" } : {}),
          ...this.options.headers,
          ...call.headers,
        },
        body:
          call.body === undefined
            ? undefined
            : streamed || typeof call.body === "string"
              ? (call.body as string | Readable)
              : JSON.stringify(call.body),
        // The deadline's signal ends the call; undici's own timeouts (coarse: they may fire a
        // few hundred ms early) are only a backstop behind it.
        headersTimeout: deadlineMs + 1000,
        bodyTimeout: deadlineMs + 1000,
        signal: call.signal ? AbortSignal.any([call.signal, deadline]) : deadline,
        dispatcher: this.dispatcher,
      });
      status = res.statusCode;
      headers = res.headers;
      text = await readBounded(res.body, maxAnswerBytes);
    } catch (error) {
      if (call.signal?.aborted) throw abortReason(call.signal);
      const refused = certificateFailure(error);
      if (refused)
        throw new CertificateError(
          this.options.name,
          this.where,
          call.headers?.host ?? new URL(this.options.address).hostname,
          refused,
          this.options.tls ?? { source: "the system's root CAs" },
        );
      throw new UnreachableError(
        this.options.name,
        this.where,
        classifyTransportError(error),
        deadlineMs,
      );
    }
    if (text === undefined)
      throw this.unexpected(
        call,
        `more than ${maxAnswerBytes / 1024 / 1024} MB (not read further)`,
      );
    if (status >= 400 && !call.anyStatus && !call.answerStatuses?.includes(status)) {
      throw new HttpError(
        status,
        text,
        call,
        `${this.options.name} ${call.method} ${call.path}: ${status} ${text.trim().slice(0, 300)}`,
        `that is what ${this.options.name} at ${this.where} answered; its log may say more`,
      );
    }
    return { status, data: this.decode(call, text), headers };
  }

  /**
   * A long answer read as it comes (a log being followed), each chunk passed to `onChunk`. The
   * deadline covers the answer's headers; with `follow` the body runs until the server ends it
   * or `call.signal` aborts (Ctrl-C), else the deadline bounds it too. Never retried: a retry
   * would repeat what was already passed on. An error status is an HttpError, as for `call`.
   */
  async stream(
    call: Omit<HttpCall, "answer" | "body" | "waitSeconds"> & { follow: boolean },
    onChunk: (chunk: Buffer) => void,
  ): Promise<void> {
    const deadlineMs = deadlineOf(call, this.options.deadlineMs);
    // Followed, only the headers are bounded (by undici's timeout); else the whole call.
    const deadline = call.follow ? undefined : AbortSignal.timeout(deadlineMs);
    const signals = [...(deadline ? [deadline] : []), ...(call.signal ? [call.signal] : [])];
    try {
      const res = await request(buildUrl(this.options.address, call.path, call.query), {
        method: call.method,
        headers: { ...this.options.headers, ...call.headers },
        headersTimeout: deadlineMs,
        bodyTimeout: call.follow ? 0 : deadlineMs + 1000,
        ...(signals.length ? { signal: AbortSignal.any(signals) } : {}),
        dispatcher: this.streaming,
      });
      if (res.statusCode >= 400) {
        const text = (await readBounded(res.body, 64 * 1024)) ?? "";
        throw new HttpError(
          res.statusCode,
          text,
          call,
          `${this.options.name} ${call.method} ${call.path}: ${res.statusCode} ${text.trim().slice(0, 300)}`,
          `that is what ${this.options.name} at ${this.where} answered; its log may say more`,
        );
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) onChunk(chunk);
    } catch (error) {
      if (error instanceof HttpError) throw error;
      if (call.signal?.aborted) throw abortReason(call.signal);
      throw new UnreachableError(
        this.options.name,
        this.where,
        classifyTransportError(error),
        deadlineMs,
      );
    }
  }

  /** The answer as its call's schema says it is, or an error saying what it is instead. */
  private decode<S extends z.ZodType>(call: HttpCall<S>, text: string): z.output<S> {
    const answer: z.ZodType = call.answer;
    if (answer === unreadAnswer) return undefined as z.output<S>;
    if (answer === textAnswer) return text as z.output<S>;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw this.unexpected(
        call,
        text.trim() === "" ? "an empty answer" : `not JSON (it begins ${quote(text.trim(), 40)})`,
      );
    }
    const parsed = call.answer.safeParse(json);
    if (!parsed.success) throw this.unexpected(call, describeShapeProblem(parsed.error));
    return parsed.data;
  }

  private unexpected(call: HttpCall, problem: string): UnexpectedAnswerError {
    return new UnexpectedAnswerError(
      this.where,
      this.options.service ?? this.options.name,
      `${call.method} ${call.path}`,
      problem,
    );
  }
}

/** The body as text, or undefined once it passes `limit` bytes (the rest is not read). */
async function readBounded(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  limit: number,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Pure: what a schema found wrong, short: the first issues, each with its path. */
export function describeShapeProblem(error: z.ZodError, shown = 3): string {
  const issues = error.issues.slice(0, shown).map((issue) => {
    const path = issue.path
      .map((key, i) =>
        typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`,
      )
      .join("");
    return `${path || "the answer"}: ${issue.message.replace(/^Invalid input: /, "")}`;
  });
  const more = error.issues.length - shown;
  return issues.join("; ") + (more > 0 ? ` (and ${more} more)` : "");
}
