/**
 * The registry's HTTP API (Docker Registry HTTP API v2), for what a push does not tell: does the
 * registry exist and take these credentials, does a tag exist. Basic auth first (an htpasswd
 * registry answers it); a registry that answers `WWW-Authenticate: Bearer` (DigitalOcean's) gets a
 * token from its realm with the same credentials. The password is registered for redaction.
 */
import { z } from "zod";
import { ConfigError, OperationError, type ElmInfraError } from "../errors.js";
import { JsonApi, unreadAnswer, type TlsTrust } from "../http.js";
import { registerSecret } from "../output/redact.js";

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Accept headers of every manifest kind a `docker push` makes (single and multi-platform). */
const manifestTypes = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
].join(", ");

/** An answer read as JSON whatever its status; its shape is checked where it is used. */
const readAnswer = z.unknown();
const tagList = z.object({ name: z.string(), tags: z.array(z.string()).nullish() });

const tokenAnswer = z.object({ token: z.string().optional(), access_token: z.string().optional() });

/** Pure: the fields of a `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` header. */
export function parseBearerChallenge(
  header: string | undefined,
): Record<string, string> | undefined {
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const fields: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/([a-zA-Z]+)="([^"]*)"/g)) fields[m[1]!] = m[2]!;
  return fields.realm ? fields : undefined;
}

export class RegistryApi {
  private readonly api: JsonApi;
  private readonly basic: string;

  constructor(
    /** `host[:port]`, reached over HTTPS. */
    readonly host: string,
    private readonly credentials: RegistryCredentials,
    private readonly tls?: TlsTrust,
  ) {
    registerSecret(credentials.password);
    this.basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
    registerSecret(this.basic);
    this.api = new JsonApi({
      name: "the registry",
      address: `https://${host}`,
      deadlineMs: 10_000,
      ...(tls ? { tls } : {}),
    });
  }

  /**
   * Does `repository:tag` exist? A refusal of the credentials, or of the repository's registry
   * (a name that does not exist), is an error saying which.
   */
  async hasTag(repository: string, tag: string): Promise<boolean> {
    const path = `/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
    const status = await this.authorizedGet(path, `repository:${repository}:pull`);
    if (status === 200) return true;
    if (status === 404) return false;
    throw this.refusal(status, `${repository}:${tag}`);
  }

  /**
   * The pre-check: the registry answers, takes these credentials and lets them read `namespace`
   * (DigitalOcean's registry name; for a registry without one, any repository).
   */
  async checkAccess(repository: string): Promise<void> {
    const status = await this.authorizedGet("/v2/", `repository:${repository}:pull`);
    if (status !== 200) throw this.refusal(status, "/v2/");
    // A token for a registry name that does not exist is refused here (DigitalOcean: 401/403).
    const probe = await this.authorizedGet(
      `/v2/${repository}/tags/list`,
      `repository:${repository}:pull`,
    );
    if (probe !== 200 && probe !== 404) throw this.refusal(probe, repository);
  }

  /**
   * The repository's tags (`/v2/<repository>/tags/list`, following the registry's pages, at most
   * 50 of 1000); none for a repository the registry does not have.
   */
  async tags(repository: string): Promise<string[]> {
    const scope = `repository:${repository}:pull`;
    const found: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    for (let page = 0; path && page < 50; page++) {
      const res = await this.authorized("GET", path, scope, readAnswer);
      if (res.status === 404) return found;
      if (res.status !== 200) throw this.refusal(res.status, `${repository}'s tags`);
      const parsed = tagList.safeParse(res.data);
      if (!parsed.success)
        throw new OperationError(
          `the registry ${this.host} answered its tag list of ${repository} in a shape that is not the registry API's`,
          "check that the registry's address in cluster.yaml is a Docker registry",
        );
      found.push(...(parsed.data.tags ?? []));
      // RFC 5988: `</v2/<repository>/tags/list?n=1000&last=x>; rel="next"`, on this host only.
      path = /^<(\/v2\/[^>]+)>;\s*rel="next"/.exec(headerOf(res.headers, "link") ?? "")?.[1];
    }
    return found;
  }

  /** The manifest digest `repository:tag` names; undefined when the tag does not exist. */
  async digestOf(repository: string, tag: string): Promise<string | undefined> {
    const path = `/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
    const res = await this.authorized("GET", path, `repository:${repository}:pull`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.refusal(res.status, `${repository}:${tag}`);
    const digest = headerOf(res.headers, "docker-content-digest");
    if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest))
      throw new OperationError(
        `the registry ${this.host} gave no digest for ${repository}:${tag}`,
        "a registry that implements the Docker Registry HTTP API v2 names it in Docker-Content-Digest",
      );
    return digest;
  }

  /**
   * Deletes the manifest `digest` of `repository` (and with it every tag that names it). The
   * space its layers take comes back with the registry's garbage collection.
   */
  async deleteManifest(repository: string, digest: string): Promise<void> {
    const path = `/v2/${repository}/manifests/${digest}`;
    const res = await this.authorized("DELETE", path, `repository:${repository}:pull,push,delete`);
    if (res.status === 202 || res.status === 200 || res.status === 404) return;
    if (res.status === 405)
      throw new OperationError(
        `the registry ${this.host} does not allow deletes (405)`,
        "enable them in the registry's configuration (storage.delete.enabled: true)",
      );
    throw this.refusal(res.status, `the deletion of ${repository}@${digest}`);
  }

  /** GET with Basic auth, then with a Bearer token when the registry asks for one. */
  private async authorizedGet(path: string, scope: string): Promise<number> {
    return (await this.authorized("GET", path, scope)).status;
  }

  /** A call with Basic auth, then with a Bearer token when the registry asks for one. */
  private async authorized(
    method: "GET" | "DELETE",
    path: string,
    scope: string,
    answer: z.ZodType = unreadAnswer,
  ) {
    const first = await this.send(method, path, `Basic ${this.basic}`, answer);
    if (first.status !== 401) return first;
    const challenge = parseBearerChallenge(headerOf(first.headers, "www-authenticate"));
    if (!challenge) return first;
    const token = await this.bearerToken(challenge, scope);
    if (!token) return { ...first, status: 401 };
    return this.send(method, path, `Bearer ${token}`, answer);
  }

  private async send(
    method: "GET" | "DELETE",
    path: string,
    authorization: string,
    answer: z.ZodType,
  ) {
    return this.api.call({
      method,
      path,
      headers: { authorization, accept: manifestTypes },
      anyStatus: true,
      answer,
    });
  }

  private async bearerToken(
    challenge: Record<string, string>,
    scope: string,
  ): Promise<string | undefined> {
    const realm = new URL(challenge.realm!);
    const realmApi = new JsonApi({
      name: "the registry's token service",
      address: realm.origin,
      deadlineMs: 10_000,
      ...(this.tls && realm.host === this.host ? { tls: this.tls } : {}),
    });
    const answer = await realmApi.call({
      method: "GET",
      path: realm.pathname,
      query: { service: challenge.service, scope },
      headers: { authorization: `Basic ${this.basic}` },
      anyStatus: true,
      answer: z.unknown(),
    });
    if (answer.status !== 200) return undefined;
    const parsed = tokenAnswer.safeParse(answer.data);
    const token = parsed.success ? (parsed.data.token ?? parsed.data.access_token) : undefined;
    if (token) registerSecret(token);
    return token;
  }

  private refusal(status: number, what: string): ElmInfraError {
    if (status === 401 || status === 403) {
      return new ConfigError(
        [
          {
            file: "secrets",
            path: "registryUsername/registryPassword",
            message: `the registry ${this.host} refused them for ${what} (${status}): a wrong password or user, or a registry name that does not exist`,
          },
        ],
        "check the registry's name in cluster.yaml and the credentials (ELM_INFRA_REGISTRY_USERNAME / ELM_INFRA_REGISTRY_PASSWORD, or secrets/<target>.yaml)",
      );
    }
    return new OperationError(
      `the registry ${this.host} answered ${status} for ${what}`,
      "check that the registry is up (the local target: its <target>-registry container)",
    );
  }
}

function headerOf(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
