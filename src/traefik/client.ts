import type { z } from "zod";
import { canaryHeader } from "./canary.js";
import { HttpError, JsonApi, textAnswer, type TlsTrust } from "../http.js";
import * as answers from "./schemas.js";

export type TraefikRouter = z.output<typeof answers.router>;
export type TraefikService = z.output<typeof answers.service>;

export interface ProbeResult {
  status: number;
  version: string | undefined;
  body: string;
  /** A redirect's Location header. */
  location?: string;
}

export interface TraefikClientOptions {
  /** Base URL of Traefik's API. */
  api: string;
  /** Base URL of the entrypoint visitors use: `https://` on a target that serves HTTPS. */
  entrypoint: string;
  /** With an https entrypoint: the CAs its certificates are verified against (SNI = Host). */
  entrypointTls?: TlsTrust;
  /** Base URL of the canary entrypoint (never public): where `probeCanary` asks. */
  canaryEntrypoint?: string;
  /** How messages name them, when the URLs are a tunnel's local ports. */
  where?: { api: string; entrypoint: string; canaryEntrypoint?: string };
  deadlineMs?: number;
}

/** Reads Traefik's API and sends requests through its entrypoint as a visitor would. */
export class TraefikClient {
  private readonly api: JsonApi;
  private readonly entrypoint: JsonApi;
  private readonly canaryEntrypoint: JsonApi | undefined;
  constructor(options: TraefikClientOptions) {
    const deadlineMs = options.deadlineMs ?? 5000;
    this.api = new JsonApi({
      name: "Traefik's API",
      service: "Traefik",
      address: options.api,
      deadlineMs,
      ...(options.where ? { where: options.where.api } : {}),
    });
    this.entrypoint = new JsonApi({
      name: "Traefik's entrypoint",
      address: options.entrypoint,
      deadlineMs,
      ...(options.entrypointTls ? { tls: options.entrypointTls } : {}),
      ...(options.where ? { where: options.where.entrypoint } : {}),
    });
    this.canaryEntrypoint = options.canaryEntrypoint
      ? new JsonApi({
          name: "Traefik's canary entrypoint",
          address: options.canaryEntrypoint,
          deadlineMs,
          ...(options.where?.canaryEntrypoint ? { where: options.where.canaryEntrypoint } : {}),
        })
      : undefined;
  }

  /** Where the API answers, as messages name it. */
  get apiAddress(): string {
    return this.api.where;
  }

  async router(name: string): Promise<TraefikRouter | undefined> {
    return this.getOrUndefined(
      `/api/http/routers/${encodeURIComponent(`${name}@consulcatalog`)}`,
      answers.router,
    );
  }
  async service(name: string): Promise<TraefikService | undefined> {
    return this.getOrUndefined(
      `/api/http/services/${encodeURIComponent(`${name}@consulcatalog`)}`,
      answers.service,
    );
  }
  async routers(): Promise<TraefikRouter[]> {
    return (
      await this.api.call({ method: "GET", path: "/api/http/routers", answer: answers.routers })
    ).data;
  }

  private async getOrUndefined<S extends z.ZodType>(
    path: string,
    answer: S,
  ): Promise<z.output<S> | undefined> {
    try {
      return (await this.api.call({ method: "GET", path, answer })).data;
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
    return probeThrough(this.entrypoint, host, path, headers);
  }

  /** GET `path` with the canary header through the canary entrypoint (not the public one). */
  async probeCanary(host: string, path: string): Promise<ProbeResult> {
    if (!this.canaryEntrypoint) {
      throw new Error("this Traefik client was made without the canary entrypoint's address");
    }
    return probeThrough(this.canaryEntrypoint, host, path, { [canaryHeader]: "1" });
  }
}

async function probeThrough(
  entrypoint: JsonApi,
  host: string,
  path: string,
  headers: Record<string, string>,
): Promise<ProbeResult> {
  // A site's page, whatever it is: read as text (bounded), never checked for a shape.
  const res = await entrypoint.call({
    method: "GET",
    path,
    headers: { host, ...headers },
    anyStatus: true,
    answer: textAnswer,
  });
  const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);
  const body = res.data;
  const location = first(res.headers.location);
  return {
    status: res.status,
    version: first(res.headers["x-elm-version"]),
    body: body.slice(0, 500),
    ...(location !== undefined ? { location } : {}),
  };
}
