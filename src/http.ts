import { request, type Dispatcher } from "undici";
import { OperationError } from "./errors.js";

/**
 * The one HTTP helper the API clients (nomad, consul, traefik) stand on: a timeout on every
 * call, retries only for idempotent reads, JSON in and out, and the blocking-query index.
 */
export interface HttpCall {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse<T> {
  status: number;
  data: T;
  headers: Record<string, string | string[] | undefined>;
}

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

const retryable = new Set([502, 503, 504]);

export function buildUrl(base: string, path: string, query: HttpCall["query"] = {}): string {
  const url = new URL(path, base.endsWith("/") ? base : `${base}/`);
  for (const [k, v] of Object.entries(query))
    if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

export async function httpJson<T>(
  base: string,
  call: HttpCall,
  options: { retries?: number; dispatcher?: Dispatcher; name: string },
): Promise<HttpResponse<T>> {
  const idempotent = call.method === "GET";
  const attempts = idempotent ? 1 + (options.retries ?? 2) : 1;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const timeout = call.timeoutMs ?? 15_000;
      const res = await request(buildUrl(base, call.path, call.query), {
        method: call.method,
        headers: {
          ...(call.body !== undefined ? { "content-type": "application/json" } : {}),
          ...call.headers,
        },
        body:
          call.body === undefined
            ? undefined
            : typeof call.body === "string"
              ? call.body
              : JSON.stringify(call.body),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: call.signal,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      });
      const text = await res.body.text();
      if (res.statusCode >= 400) {
        if (idempotent && retryable.has(res.statusCode) && attempt < attempts) {
          lastError = new Error(`${res.statusCode}`);
          await sleep(300 * attempt, call.signal);
          continue;
        }
        throw new HttpError(
          res.statusCode,
          text,
          call,
          `${options.name} ${call.method} ${call.path}: ${res.statusCode} ${text.trim().slice(0, 300)}`,
        );
      }
      const contentType = String(res.headers["content-type"] ?? "");
      const data = (
        text && (contentType.includes("json") || /^[[{"]/.test(text)) ? safeJson(text) : text
      ) as T;
      return { status: res.statusCode, data, headers: res.headers };
    } catch (error) {
      if (error instanceof HttpError || call.signal?.aborted) throw error;
      lastError = error;
      if (!idempotent || attempt >= attempts) break;
      await sleep(300 * attempt, call.signal);
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new OperationError(
    `${options.name} is not reachable at ${base}: ${reason}`,
    `check that ${options.name} is running and the address is right`,
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
