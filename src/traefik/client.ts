import { request } from "undici";
import { OperationError } from "../errors.js";
import { HttpError, httpJson } from "../http.js";

export interface TraefikRouter {
  name: string;
  rule: string;
  service: string;
  status: "enabled" | "disabled" | "warning";
  provider: string;
}

export interface TraefikService {
  name: string;
  status: string;
  serverStatus?: Record<string, "UP" | "DOWN">;
}

export interface ProbeResult {
  status: number;
  version: string | undefined;
  body: string;
}

/** Reads Traefik's API and sends requests through its entrypoint as a visitor would. */
export class TraefikClient {
  constructor(private readonly options: { api: string; entrypoint: string; timeoutMs?: number }) {}

  async router(name: string): Promise<TraefikRouter | undefined> {
    return this.getOrUndefined<TraefikRouter>(
      `/api/http/routers/${encodeURIComponent(`${name}@consulcatalog`)}`,
    );
  }
  async service(name: string): Promise<TraefikService | undefined> {
    return this.getOrUndefined<TraefikService>(
      `/api/http/services/${encodeURIComponent(`${name}@consulcatalog`)}`,
    );
  }
  async routers(): Promise<TraefikRouter[]> {
    return (
      await httpJson<TraefikRouter[]>(
        this.options.api,
        { method: "GET", path: "/api/http/routers" },
        { name: "Traefik API" },
      )
    ).data;
  }

  private async getOrUndefined<T>(path: string): Promise<T | undefined> {
    try {
      return (
        await httpJson<T>(
          this.options.api,
          { method: "GET", path, timeoutMs: this.options.timeoutMs ?? 5000 },
          { name: "Traefik API", retries: 0 },
        )
      ).data;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** GET `path` through the entrypoint with a Host header; the version comes from X-Elm-Version. */
  async probe(
    host: string,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<ProbeResult> {
    try {
      const res = await request(new URL(path, this.options.entrypoint), {
        method: "GET",
        headers: { host, ...headers },
        headersTimeout: this.options.timeoutMs ?? 5000,
        bodyTimeout: this.options.timeoutMs ?? 5000,
      });
      const body = await res.body.text();
      const header = res.headers["x-elm-version"];
      return {
        status: res.statusCode,
        version: Array.isArray(header) ? header[0] : header,
        body: body.slice(0, 500),
      };
    } catch (error) {
      throw new OperationError(
        `Traefik's entrypoint ${this.options.entrypoint} did not answer: ${(error as Error).message}`,
      );
    }
  }
}
