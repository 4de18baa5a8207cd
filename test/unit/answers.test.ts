/**
 * Servers' answers are checked in shape at the client: a loopback server that answers 200 with
 * something else (an empty object, an array, another service's JSON, bad JSON, HTML, nothing, a
 * body without end) is said to, with the address, the endpoint and what was wrong, as a typed
 * error (exit 1); its text never carries a terminal control sequence into a message.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ConsulClient } from "../../src/consul/client.js";
import { ExitCode, UnexpectedAnswerError } from "../../src/errors.js";
import { describeShapeProblem, HttpError, JsonApi, maxAnswerBytes } from "../../src/http.js";
import { NomadClient } from "../../src/nomad/client.js";
import * as nomadAnswers from "../../src/nomad/schemas.js";
import { TraefikClient } from "../../src/traefik/client.js";
import {
  controlText,
  hostileAnswers,
  hugeLimitBytes,
  startHostileServer,
  type HostileServer,
} from "../support/hostile-server.js";

let server: HostileServer;
beforeAll(async () => {
  server = await startHostileServer();
});
afterAll(async () => {
  await server.close();
});

/** Each client call elm-infra relies on, per service, with the endpoint its message names. */
const calls: Array<[service: string, endpoint: string, call: (url: string) => Promise<unknown>]> = [
  ["Nomad", "GET /v1/job/web", (url) => new NomadClient({ address: url }).readJob("web")],
  [
    "Nomad",
    "GET /v1/job/web/versions",
    (url) => new NomadClient({ address: url }).jobVersions("web"),
  ],
  [
    "Nomad",
    "GET /v1/job/web/deployment",
    (url) =>
      new NomadClient({ address: url }).latestDeployment("web", { index: 7, waitSeconds: 1 }),
  ],
  [
    "Nomad",
    "POST /v1/jobs/parse",
    (url) => new NomadClient({ address: url }).parseJob('job "x" {}'),
  ],
  ["Nomad", "GET /v1/node/n1", (url) => new NomadClient({ address: url }).node("n1")],
  [
    "Consul",
    "PUT /v1/kv/elm-infra/lock",
    (url) => new ConsulClient({ address: url }).acquireKey("elm-infra/lock", "s1", "me"),
  ],
  [
    "Consul",
    "GET /v1/operator/raft/configuration",
    (url) => new ConsulClient({ address: url }).raftConfiguration(),
  ],
  [
    "Consul",
    "PUT /v1/session/create",
    (url) => new ConsulClient({ address: url }).createSession("deploy", 30),
  ],
  [
    "Consul",
    "GET /v1/operator/autopilot/health",
    (url) => new ConsulClient({ address: url }).autopilotHealth(),
  ],
  [
    "Traefik",
    "GET /api/http/routers/web-lang-org%40consulcatalog",
    (url) => new TraefikClient({ api: url, entrypoint: url }).router("web-lang-org"),
  ],
  [
    "Traefik",
    "GET /api/http/services/web-lang-org%40consulcatalog",
    (url) => new TraefikClient({ api: url, entrypoint: url }).service("web-lang-org"),
  ],
];

// Every call above expects an object or a scalar: each refuses every hostile answer (an empty
// array is a fine answer to a list endpoint, which the CLI tests cover).
const refused = hostileAnswers;

describe.each(calls)("%s %s", (service, endpoint, call) => {
  it.each(refused)(
    "answering %s: UnexpectedAnswerError naming the address and endpoint, exit 1",
    async (_, answer, problem) => {
      server.answer(answer);
      const rssBefore = process.memoryUsage().rss;
      const started = Date.now();
      const error = await call(server.url).then(
        (ok) => ok,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UnexpectedAnswerError);
      const e = error as UnexpectedAnswerError;
      expect(e.exitCode).toBe(ExitCode.OperationFailed);
      expect(
        e.message.startsWith(
          `${server.url} answered something that is not ${service}'s ${endpoint}: `,
        ),
      ).toBe(true);
      expect(e.message).toMatch(problem);
      expect(e.hint).toMatch(new RegExp(`check that ${server.url} is ${service}`));
      expect(Date.now() - started).toBeLessThan(10_000);
      if (answer.huge) {
        // Read up to the bound, then hung up on: far from the gigabyte the server would send.
        expect(server.hugeBytesWritten()).toBeLessThan(hugeLimitBytes / 4);
        expect(process.memoryUsage().rss - rssBefore).toBeLessThan(20 * maxAnswerBytes);
      }
    },
  );
});

describe("what a wrong shape is said as", () => {
  it("the readJob message, exactly", async () => {
    server.answer({ body: '{"Name": 7}' });
    await expect(new NomadClient({ address: server.url }).readJob("web")).rejects.toThrow(
      `${server.url} answered something that is not Nomad's GET /v1/job/web: ID: expected string, received undefined; Name: expected string, received number`,
    );
  });

  it("the address as the user knows it (a tunnel's `where`), not the local port", async () => {
    server.answer({ body: "[]" });
    await expect(
      new NomadClient({ address: server.url, where: "manager-1 (over SSH)" }).readJob("web"),
    ).rejects.toThrow(
      "manager-1 (over SSH) answered something that is not Nomad's GET /v1/job/web: the answer: expected object, received array",
    );
  });

  it.each([
    ["one issue", z.object({ A: z.string() }), {}, "A: expected string, received undefined"],
    [
      "nested paths with indexes",
      z.object({ Servers: z.array(z.object({ Name: z.string() })) }),
      { Servers: [{ Name: "a" }, { Name: 3 }] },
      "Servers[1].Name: expected string, received number",
    ],
    [
      "more than three issues: the first three and a count",
      z.object({ A: z.string(), B: z.string(), C: z.string(), D: z.string(), E: z.string() }),
      {},
      "A: expected string, received undefined; B: expected string, received undefined; C: expected string, received undefined (and 2 more)",
    ],
    ["the whole answer", z.array(z.string()), {}, "the answer: expected array, received object"],
  ])("describeShapeProblem: %s", (_, schema, value, said) => {
    expect(describeShapeProblem(schema.safeParse(value).error!)).toBe(said);
  });

  it("extra fields are kept (servers add fields across versions); a null list is read as absent", async () => {
    server.answer({
      body: JSON.stringify({ ID: "web", TaskGroups: null, Meta: null, NewIn2027: { x: 1 } }),
    });
    const job = await new NomadClient({ address: server.url }).readJob("web");
    expect(job).toMatchObject({ ID: "web", Meta: null, NewIn2027: { x: 1 } });
    expect(job?.TaskGroups).toBeUndefined();
  });

  it("a blocking query still sends its index and reads X-Nomad-Index", async () => {
    const deployment = nomadAnswers.deployment.parse({
      ID: "d1",
      JobID: "web",
      JobVersion: 2,
      Status: "running",
      StatusDescription: "Deployment is running",
      TaskGroups: null,
      ModifyIndex: 9,
    });
    expect(deployment.TaskGroups).toEqual({});
    server.answer({ body: "null" });
    const read = await new NomadClient({ address: server.url }).latestDeployment("web", {
      index: 5,
      waitSeconds: 1,
    });
    expect(read.data).toBeNull();
    expect(server.requests).toEqual(["GET /v1/job/web/deployment"]);
  });
});

describe("a server's text with control sequences", () => {
  it("an error body: the HttpError's message keeps the words, not the sequences", async () => {
    server.answer({ status: 500, contentType: "text/plain", body: controlText });
    const error = await new JsonApi({ name: "Nomad", address: server.url })
      .call({ method: "GET", path: "/v1/jobs", answer: z.unknown() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    const message = (error as HttpError).message;
    expect(message).toBe("Nomad GET /v1/jobs: 500 red\ntail");
    // eslint-disable-next-line no-control-regex
    expect(message).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  it("Nomad's explanation of a refused call (explainNomadError) likewise", async () => {
    server.answer({ status: 400, contentType: "text/plain", body: controlText });
    const error = (await new NomadClient({ address: server.url })
      .stopJob("web")
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toBe("Nomad DELETE /v1/job/web failed: red\ntail");
  });
});
