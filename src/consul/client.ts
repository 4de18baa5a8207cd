import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { z } from "zod";
import { HttpError, JsonApi, PermissionDeniedError, unreadAnswer, type HttpCall } from "../http.js";
import { consulPermissionFor } from "./permissions.js";
import * as answers from "./schemas.js";

export interface ConsulClientOptions {
  address: string;
  /** How messages name the address (a tunnel's local port means nothing to the user). */
  where?: string;
  token?: string;
  deadlineMs?: number;
  dispatcher?: Dispatcher;
}

export type KvPair = z.output<typeof answers.kvPairs>[number];
/** One health check of a service instance (GET /v1/health/checks/:service). */
export type HealthCheck = z.output<typeof answers.healthCheck>;
export type ServiceHealth = z.output<typeof answers.serviceHealth>;
/** Consul's autopilot view of its servers. */
export type ConsulAutopilotHealth = z.output<typeof answers.autopilotHealth>;
/** An ACL token as Consul reads it back: its accessor, description and what it grants. */
export type ConsulAclToken = z.output<typeof answers.aclToken>;

/** Typed client of the Consul HTTP API: KV, sessions, health, catalog, raft. */
export class ConsulClient {
  private readonly api: JsonApi;
  constructor(options: ConsulClientOptions) {
    this.api = new JsonApi({
      name: "Consul",
      address: options.address,
      ...(options.where ? { where: options.where } : {}),
      headers: options.token ? { "X-Consul-Token": options.token } : {},
      ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
  }

  get address(): string {
    return this.api.address;
  }

  /** One call; its answer is checked against `call.answer` (schemas.ts). */
  private async call<S extends z.ZodType>(
    call: HttpCall<S>,
  ): Promise<{ data: z.output<S>; index: number }> {
    try {
      const res = await this.api.call(call);
      return { data: res.data, index: Number(res.headers["x-consul-index"] ?? 0) };
    } catch (error) {
      if (error instanceof HttpError && error.status === 403) {
        throw new PermissionDeniedError(
          "Consul",
          error.call,
          consulPermissionFor(call.method, call.path),
          this.api.where,
          'the Consul token needs key_prefix "elm-infra/" write and session write; set ELM_INFRA_CONSUL_TOKEN or consulToken in secrets/<target>.yaml',
        );
      }
      throw error;
    }
  }

  async createSession(name: string, ttlSeconds: number): Promise<string> {
    const { data } = await this.call({
      method: "PUT",
      path: "/v1/session/create",
      answer: answers.sessionCreated,
      body: { Name: name, TTL: `${ttlSeconds}s`, Behavior: "delete", LockDelay: "0s" },
    });
    return data.ID;
  }
  async renewSession(id: string): Promise<boolean> {
    try {
      await this.call({ method: "PUT", path: `/v1/session/renew/${id}`, answer: unreadAnswer });
      return true;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return false;
      throw error;
    }
  }
  async destroySession(id: string): Promise<void> {
    await this.call({ method: "PUT", path: `/v1/session/destroy/${id}`, answer: unreadAnswer });
  }

  /** Takes the key for the session; false when another session holds it. */
  async acquireKey(key: string, session: string, value: string): Promise<boolean> {
    const { data } = await this.call({
      method: "PUT",
      path: `/v1/kv/${key}`,
      query: { acquire: session },
      answer: answers.acquired,
      body: value,
    });
    return data === true;
  }
  async releaseKey(key: string, session: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/kv/${key}`,
      query: { release: session },
      answer: unreadAnswer,
      body: "",
    });
  }
  async readKey(key: string): Promise<{ value: string; session: string | undefined } | undefined> {
    try {
      const { data } = await this.call({
        method: "GET",
        path: `/v1/kv/${key}`,
        answer: answers.kvPairs,
      });
      const pair = data[0];
      if (!pair) return undefined;
      return {
        value: pair.Value ? Buffer.from(pair.Value, "base64").toString("utf8") : "",
        session: pair.Session,
      };
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return undefined;
      throw error;
    }
  }
  /** Writes a key's value (no session, no lock): what the ledger appends. */
  async putKey(key: string, value: string, signal?: AbortSignal): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/kv/${key}`,
      answer: unreadAnswer,
      body: value,
      ...(signal ? { signal } : {}),
    });
  }
  /** Every key under a prefix with its value, in Consul's (lexical) key order; none: []. */
  async readPrefix(
    prefix: string,
    signal?: AbortSignal,
  ): Promise<Array<{ key: string; value: string }>> {
    try {
      const { data } = await this.call({
        method: "GET",
        path: `/v1/kv/${prefix}`,
        query: { recurse: true },
        answer: answers.kvPairs,
        ...(signal ? { signal } : {}),
      });
      return data.map((p) => ({
        key: p.Key,
        value: p.Value ? Buffer.from(p.Value, "base64").toString("utf8") : "",
      }));
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return [];
      throw error;
    }
  }
  async deleteKey(key: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/v1/kv/${key}`, answer: unreadAnswer });
  }

  async serviceHealth(
    service: string,
    options: { passingOnly?: boolean } = {},
  ): Promise<ServiceHealth[]> {
    const { data } = await this.call({
      method: "GET",
      path: `/v1/health/service/${encodeURIComponent(service)}`,
      answer: answers.serviceHealthList,
      query: { passing: options.passingOnly ? true : undefined },
    });
    return data;
  }
  /**
   * Every health check of a service's instances. With `index`, a blocking query: Consul answers
   * when the checks change or after `waitSeconds`.
   */
  async serviceChecks(
    service: string,
    blocking: { index?: number; waitSeconds?: number; signal?: AbortSignal } = {},
  ): Promise<{ data: HealthCheck[]; index: number }> {
    const wait = blocking.index !== undefined ? (blocking.waitSeconds ?? 10) : undefined;
    return this.call({
      method: "GET",
      path: `/v1/health/checks/${encodeURIComponent(service)}`,
      answer: answers.healthChecks,
      query: { index: blocking.index, wait: wait !== undefined ? `${wait}s` : undefined },
      ...(wait !== undefined ? { waitSeconds: wait } : {}),
      ...(blocking.signal ? { signal: blocking.signal } : {}),
    });
  }
  /**
   * Registers a service with this agent, on its own node, as an application does; the agent
   * syncs it to the catalog at once. One of the same ID is replaced.
   */
  async registerService(service: {
    ID: string;
    Name: string;
    Port: number;
    Tags: string[];
  }): Promise<void> {
    await this.call({
      method: "PUT",
      path: "/v1/agent/service/register",
      answer: unreadAnswer,
      body: service,
    });
  }
  async deregisterService(id: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/agent/service/deregister/${encodeURIComponent(id)}`,
      answer: unreadAnswer,
    });
  }
  async leader(): Promise<string> {
    return (await this.call({ method: "GET", path: "/v1/status/leader", answer: answers.leader }))
      .data;
  }
  /**
   * Replaces the whole cluster's state with a snapshot (what `consul snapshot save` writes),
   * streamed as it comes: the disaster recovery of lost managers. Management token.
   */
  async restoreSnapshot(snapshot: Readable, signal?: AbortSignal): Promise<void> {
    await this.call({
      method: "PUT",
      path: "/v1/snapshot",
      body: snapshot,
      deadlineMs: 120_000,
      ...(signal ? { signal } : {}),
      answer: unreadAnswer,
    });
  }
  /**
   * This agent joins the gossip pool through `address` (another agent's private address). Consul
   * answers once the exchange with that agent ended, after up to its 10 s TCP timeout when the
   * agent does not answer: the call waits longer, so that Consul's own refusal is what is said.
   */
  async join(address: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/agent/join/${encodeURIComponent(address)}`,
      answer: unreadAnswer,
      deadlineMs: 30_000,
    });
  }
  async raftPeers(): Promise<string[]> {
    return (await this.call({ method: "GET", path: "/v1/status/peers", answer: answers.raftPeers }))
      .data;
  }
  async raftConfiguration(): Promise<{
    Servers: Array<{ ID: string; Node: string; Address: string; Leader: boolean; Voter: boolean }>;
  }> {
    return (
      await this.call({
        method: "GET",
        path: "/v1/operator/raft/configuration",
        answer: answers.raftConfiguration,
      })
    ).data;
  }
  /** 429 is an answer too: Consul says so while a server is unhealthy, with the same body. */
  async autopilotHealth(): Promise<ConsulAutopilotHealth> {
    return (
      await this.call({
        method: "GET",
        path: "/v1/operator/autopilot/health",
        answer: answers.autopilotHealth,
        answerStatuses: [429],
      })
    ).data;
  }
  /** Removes a server from the raft configuration by its raft ID (a server that is gone). */
  async removeRaftPeer(id: string): Promise<void> {
    await this.call({
      method: "DELETE",
      path: "/v1/operator/raft/peer",
      query: { id },
      answer: unreadAnswer,
    });
  }
  /** Hands raft leadership to the server with this raft ID (a reboot of the leader comes next). */
  async transferLeadership(id: string): Promise<void> {
    await this.call({
      method: "POST",
      path: "/v1/operator/raft/transfer-leader",
      query: { id },
      answer: unreadAnswer,
    });
  }
  /** Puts a failed node into the "left" state; `prune` also drops it from the member list. */
  async forceLeave(node: string, prune = true): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/agent/force-leave/${encodeURIComponent(node)}`,
      answer: unreadAnswer,
      query: { prune: prune ? true : undefined },
    });
  }
  /** The LAN gossip pool as this agent sees it (Status 1 is alive). */
  async members(): Promise<
    Array<{ Name: string; Addr: string; Status: number; Tags: Record<string, string> }>
  > {
    return (await this.call({ method: "GET", path: "/v1/agent/members", answer: answers.members }))
      .data;
  }
  /** The gossip encryption keys installed in each pool (empty when encryption is off). */
  async keyring(): Promise<Array<{ WAN: boolean; Keys: Record<string, number> }>> {
    return (
      await this.call({ method: "GET", path: "/v1/operator/keyring", answer: answers.keyring })
    ).data;
  }

  /**
   * The gossip keyring, on every member of every pool: install a key (every agent accepts it),
   * use it (every agent encrypts with it), remove it. Consul keeps each agent's keyring file in
   * its data folder up to date, so a restarted agent comes back with the same keys.
   */
  async installGossipKey(key: string): Promise<void> {
    await this.keyringOperation("POST", key);
  }
  async useGossipKey(key: string): Promise<void> {
    await this.keyringOperation("PUT", key);
  }
  async removeGossipKey(key: string): Promise<void> {
    await this.keyringOperation("DELETE", key);
  }
  private async keyringOperation(method: "POST" | "PUT" | "DELETE", key: string): Promise<void> {
    await this.call({
      method,
      path: "/v1/operator/keyring",
      answer: unreadAnswer,
      body: { Key: key },
    });
  }

  /**
   * The token whose secret is `secret`, as Consul reads it (no special permission needed), or
   * undefined when Consul refuses it (403 "ACL not found": deleted or never made).
   */
  async tokenOf(secret: string): Promise<ConsulAclToken | undefined> {
    try {
      return (
        await this.api.call({
          method: "GET",
          path: "/v1/acl/token/self",
          headers: { "X-Consul-Token": secret },
          answer: answers.aclToken,
        })
      ).data;
    } catch (error) {
      if (error instanceof HttpError && error.status === 403) return undefined;
      throw error;
    }
  }
  /** A new token with `secret` as its SecretID, granting what `like` grants (management token). */
  async createTokenLike(like: ConsulAclToken, secret: string): Promise<ConsulAclToken> {
    return (
      await this.call({
        method: "PUT",
        path: "/v1/acl/token",
        answer: answers.aclToken,
        body: { SecretID: secret, ...grantsOf(like) },
      })
    ).data;
  }
  /** The token `token.AccessorID` made to grant what `token` says (its secret unchanged). */
  async updateToken(token: ConsulAclToken): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/acl/token/${encodeURIComponent(token.AccessorID)}`,
      answer: unreadAnswer,
      body: { AccessorID: token.AccessorID, ...grantsOf(token) },
    });
  }
  /** Every token's accessor and description (management token). */
  async tokens(): Promise<Array<{ AccessorID: string; Description?: string | undefined }>> {
    return (
      await this.call({ method: "GET", path: "/v1/acl/tokens", answer: answers.aclTokenList })
    ).data;
  }
  async deleteToken(accessor: string): Promise<void> {
    await this.call({
      method: "DELETE",
      path: `/v1/acl/token/${encodeURIComponent(accessor)}`,
      answer: unreadAnswer,
    });
  }
  /**
   * Sets this agent's own ACL token at runtime (`agent`: what it registers its node with). With
   * enable_token_persistence the agent keeps it in its data folder, ahead of its config file.
   */
  async setAgentToken(kind: "agent" | "default", token: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/agent/token/${kind}`,
      answer: unreadAnswer,
      body: { Token: token },
    });
  }
}

/** What a token grants, as Consul's token writes take it. */
function grantsOf(token: ConsulAclToken) {
  return {
    Description: token.Description ?? "",
    Policies: (token.Policies ?? []).map((p) => ({ Name: p.Name })),
    NodeIdentities: token.NodeIdentities ?? [],
    ServiceIdentities: token.ServiceIdentities ?? [],
  };
}
