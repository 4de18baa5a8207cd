// The HTTP JSON wrapper's decisions: deadlines, what a transport failure is called, what a 403
// needs. Plus three loopback sockets standing in for a server that refuses, never answers, or
// hangs up, to show no library wording reaches the message.
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errors } from "undici";
import { consulPermissionFor } from "../../src/consul/permissions.js";
import {
  classifyTransportError,
  deadlineOf,
  describeTransportFailure,
  HttpError,
  JsonApi,
  UnreachableError,
  unreadAnswer,
} from "../../src/http.js";
import { autopilotHealth } from "../../src/nomad/schemas.js";
import { nomadPermissionFor } from "../../src/nomad/permissions.js";
import { ExitCode } from "../../src/errors.js";

const errno = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

describe("classifyTransportError", () => {
  it.each([
    ["ECONNREFUSED", errno("ECONNREFUSED"), "refused"],
    [
      "fetch-style wrapper around ECONNREFUSED",
      new TypeError("fetch failed", { cause: errno("ECONNREFUSED") }),
      "refused",
    ],
    ["headers timeout", new errors.HeadersTimeoutError(), "timeout"],
    ["body timeout", new errors.BodyTimeoutError(), "timeout"],
    ["connect timeout", new errors.ConnectTimeoutError(), "timeout"],
    [
      "an AbortSignal.timeout",
      new DOMException("The operation was aborted due to timeout", "TimeoutError"),
      "timeout",
    ],
    ["ECONNRESET", errno("ECONNRESET"), "closed"],
    ["other side closed", new errors.SocketError("other side closed"), "closed"],
    ["ENOTFOUND", errno("ENOTFOUND"), "not-found"],
    ["EHOSTUNREACH", errno("EHOSTUNREACH"), "unreachable"],
    ["retries exhausted", new errors.RequestRetryError("Request failed", 503, {}), "unreachable"],
    ["something else", new Error("boom"), "unreachable"],
  ])("%s → %s", (_name, error, failure) => {
    expect(classifyTransportError(error)).toBe(failure);
  });
});

describe("describeTransportFailure", () => {
  it.each([
    ["refused", 10_000, "Nomad is not reachable at http://127.0.0.1:4646: connection refused"],
    ["timeout", 10_000, "Nomad did not answer within 10 s at http://127.0.0.1:4646"],
    ["timeout", 40_000, "Nomad did not answer within 40 s at http://127.0.0.1:4646"],
    ["closed", 10_000, "Nomad closed the connection without answering at http://127.0.0.1:4646"],
    [
      "not-found",
      10_000,
      "Nomad is not reachable at http://127.0.0.1:4646: the host name does not resolve",
    ],
    ["unreachable", 10_000, "Nomad is not reachable at http://127.0.0.1:4646"],
  ] as const)("%s (%i ms)", (failure, ms, message) => {
    expect(describeTransportFailure("Nomad", "http://127.0.0.1:4646", failure, ms)).toBe(message);
  });
});

describe("deadlineOf", () => {
  it.each([
    ["a call that should answer at once", {}, 10_000, 10_000],
    ["its own deadline", { deadlineMs: 3_000 }, 10_000, 3_000],
    ["the API's deadline", {}, 5_000, 5_000],
    ["a blocking query: its wait plus the margin", { waitSeconds: 30 }, 10_000, 40_000],
    ["a short blocking query", { waitSeconds: 1 }, 10_000, 11_000],
  ])("%s", (_name, call, api, expected) => {
    expect(deadlineOf(call, api)).toBe(expected);
  });
});

describe("what a refused token needs", () => {
  it.each([
    ["GET", "/v1/nodes", "node:read"],
    ["POST", "/v1/node/abc/drain", "node:write"],
    ["GET", "/v1/operator/raft/configuration", "operator:read"],
    ["POST", "/v1/operator/autopilot/configuration", "operator:write"],
    ["POST", "/v1/acl/token", "a management token"],
    ["POST", "/v1/jobs/parse", "namespace capability parse-job"],
    ["POST", "/v1/job/elm-lang.org/plan", "namespace capability submit-job"],
    ["POST", "/v1/jobs", "namespace capability submit-job"],
    ["POST", "/v1/job/elm-lang.org/revert", "namespace capability submit-job"],
    ["GET", "/v1/job/elm-lang.org/versions", "namespace capability read-job"],
    ["GET", "/v1/deployment/d1", "namespace capability read-job"],
    ["POST", "/v1/deployment/promote/d1", "namespace capability submit-job"],
    ["POST", "/v1/deployment/fail/d1", "namespace capability submit-job"],
    ["GET", "/v1/client/fs/logs/a1", "namespace capability read-logs"],
    ["GET", "/v1/var/nomad/jobs/ingress", "namespace variables read"],
  ])("Nomad %s %s: %s", (method, path, permission) => {
    expect(nomadPermissionFor(method, path)).toBe(permission);
  });

  it.each([
    ["PUT", "/v1/kv/elm-infra/locks/deploy", 'key_prefix "elm-infra/" write'],
    ["GET", "/v1/kv/elm-infra/locks/deploy", 'key_prefix "elm-infra/" read'],
    ["PUT", "/v1/session/create", 'session_prefix "" write'],
    ["PUT", "/v1/session/renew/s1", 'session_prefix "" write'],
    ["GET", "/v1/health/service/elm-lang-org", 'service_prefix "" read and node_prefix "" read'],
    ["GET", "/v1/operator/raft/configuration", "operator read"],
    ["PUT", "/v1/acl/token", "acl write (a management token)"],
    ["PUT", "/v1/agent/service/register", 'service_prefix "" write'],
    ["PUT", "/v1/agent/token/agent", 'agent_prefix "" write'],
  ])("Consul %s %s: %s", (method, path, permission) => {
    expect(consulPermissionFor(method, path)).toBe(permission);
  });
});

describe("JsonApi against sockets that misbehave", () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  const listen = (onConnection: (s: Socket) => void) =>
    new Promise<string>((resolve) => {
      const server = createServer((s) => {
        sockets.push(s);
        onConnection(s);
      });
      servers.push(server);
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        resolve(`http://127.0.0.1:${port}`);
      });
    });
  let silent: string;
  let hangsUp: string;
  let refused: string;

  beforeAll(async () => {
    silent = await listen(() => undefined);
    hangsUp = await listen((s) => s.destroy());
    const closed = await listen(() => undefined);
    refused = closed;
    await new Promise((r) => servers.at(-1)!.close(r));
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  const failureOf = async (address: string, call: object = {}) => {
    const api = new JsonApi({ name: "Nomad", address, deadlineMs: 400 });
    const started = Date.now();
    const error = await api
      .call({ method: "GET", path: "/v1/jobs", answer: unreadAnswer, ...call })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    return { error: error as UnreachableError, ms: Date.now() - started };
  };

  it("a status listed in answerStatuses is an answer (its JSON body); unlisted, or another one, an HttpError", async () => {
    const body = '{"Healthy":false,"FailureTolerance":0,"Servers":[]}';
    const answers429 = await listen((sock) =>
      sock.once("data", () =>
        sock.end(
          `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        ),
      ),
    );
    const api = new JsonApi({ name: "Nomad", address: answers429, deadlineMs: 2000 });
    const path = "/v1/operator/autopilot/health";
    const answered = await api.call({
      method: "GET",
      path,
      answerStatuses: [429],
      answer: autopilotHealth,
    });
    expect(answered.status).toBe(429);
    expect(answered.data).toMatchObject({ Healthy: false, FailureTolerance: 0 });
    for (const answerStatuses of [undefined, [503]]) {
      const refused = await api
        .call({
          method: "GET",
          path,
          answer: autopilotHealth,
          ...(answerStatuses ? { answerStatuses } : {}),
        })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(HttpError);
      expect((refused as HttpError).status).toBe(429);
    }
  });

  it("a server that accepts and never answers: our words, within the deadline", async () => {
    const { error, ms } = await failureOf(silent);
    expect(error).toBeInstanceOf(UnreachableError);
    expect(error.exitCode).toBe(ExitCode.OperationFailed);
    expect(error.message).toBe(`Nomad did not answer within 0.4 s at ${silent}`);
    expect(ms).toBeLessThan(2_000);
  });

  it("a blocking query's deadline is its wait plus the margin", async () => {
    const { error, ms } = await failureOf(silent, { waitSeconds: 1 });
    expect(error.message).toBe(`Nomad did not answer within 1.4 s at ${silent}`);
    expect(ms).toBeGreaterThanOrEqual(1_300);
    expect(ms).toBeLessThan(3_000);
  });

  it("a refused connection (retried by undici, then reported)", async () => {
    const { error } = await failureOf(refused);
    expect(error.message).toBe(`Nomad is not reachable at ${refused}: connection refused`);
    expect(error.hint).toMatch(/check that Nomad is running/);
  });

  it("a server that hangs up", async () => {
    const { error } = await failureOf(hangsUp, { method: "POST", body: {} });
    expect(error.message).toBe(`Nomad closed the connection without answering at ${hangsUp}`);
    expect(error.message).not.toMatch(/UND_ERR|fetch failed|other side closed|Timeout Error/);
  });

  it("the caller's Ctrl-C is passed on, not called a timeout", async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const { error } = await failureOf(silent, { signal: abort.signal });
    expect(error.name).toBe("InterruptedError");
  });
});
