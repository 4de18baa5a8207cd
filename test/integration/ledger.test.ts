/**
 * The ledger's adapters against the real programs: the working copy's identity and commit from
 * real git, the entries' keys listed by a real Consul in the ledger's order, and the webhook
 * POSTed to a real HTTP receiver on loopback, whose every failure is said without the URL.
 */
import { execa } from "execa";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsul, type ConsulAgent } from "../harness/agents.js";
import { ConsulClient } from "../../src/consul/client.js";
import { gitCommit, gitIdentity } from "../../src/git/working-copy.js";
import { postWebhook } from "../../src/notify/webhook.js";
import { ledgerId, ledgerKey, ledgerPrefix } from "../../src/plan/ledger.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "elm-infra-ledger-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the working copy, as real git says", () => {
  it("a folder that is not a checkout has no commit; a checkout's HEAD, clean then dirty; the repository's own identity", async () => {
    const copy = join(dir, "copy");
    await execa("mkdir", ["-p", copy]);
    expect(await gitCommit(copy)).toBeUndefined();
    const git = (...args: string[]) => execa("git", ["-C", copy, ...args]);
    await git("init", "-q");
    await git("config", "user.name", "Jane Doe");
    await git("config", "user.email", "jane@example.org");
    // no commit yet: HEAD names nothing
    expect(await gitCommit(copy)).toBeUndefined();
    await writeFile(join(copy, "cluster.yaml"), "services: {}\n");
    await git("add", "cluster.yaml");
    await git("commit", "-qm", "first");
    const head = String((await git("rev-parse", "HEAD")).stdout);
    expect(await gitCommit(copy)).toEqual({ sha: head, dirty: false });
    await writeFile(join(copy, "new-file"), "x");
    expect(await gitCommit(copy)).toEqual({ sha: head, dirty: true });
    expect(await gitIdentity(copy)).toEqual({ name: "Jane Doe", email: "jane@example.org" });
  });
});

describe("the ledger's keys in a real Consul", () => {
  let consul: ConsulAgent;
  beforeAll(async () => {
    consul = await startConsul();
  });
  afterAll(async () => {
    await consul?.stop();
  });

  it("lists the entries in time order whatever order they were written in; an empty prefix is no entry", async () => {
    const client = new ConsulClient({ address: consul.http });
    expect(await client.readPrefix(ledgerPrefix)).toEqual([]);
    const times = [
      "2026-12-06T10:00:00.001Z",
      "2026-12-06T09:59:59.999Z",
      "2027-01-01T00:00:00.000Z",
    ];
    for (const [i, t] of times.entries())
      await client.putKey(ledgerKey(ledgerId(new Date(t), `000${i}`)), JSON.stringify({ t }));
    // another prefix that starts alike is not the ledger's
    await client.putKey("elm-infra/ledger-other", "x");
    const listed = await client.readPrefix(ledgerPrefix);
    expect(listed.map((p) => (JSON.parse(p.value) as { t: string }).t)).toEqual([
      "2026-12-06T09:59:59.999Z",
      "2026-12-06T10:00:00.001Z",
      "2027-01-01T00:00:00.000Z",
    ]);
  });
});

describe("the webhook, POSTed to a real receiver on loopback", () => {
  let server: Server;
  let url: string;
  const received: Array<{ type: string | undefined; body: string }> = [];
  let answer: (res: ServerResponse) => void = (res) => res.end("ok");
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        received.push({ type: req.headers["content-type"], body });
        answer(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0KEN-secret-path`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("delivers the body as JSON", async () => {
    expect(await postWebhook(url, { text: "hello", elmInfra: { id: "x" } })).toEqual({
      delivered: true,
    });
    expect(received.at(-1)).toEqual({
      type: "application/json",
      body: JSON.stringify({ text: "hello", elmInfra: { id: "x" } }),
    });
  });

  it("says a refusal by its status, a hung receiver by its deadline, a closed port as refused: never the URL", async () => {
    answer = (res) => {
      res.statusCode = 500;
      res.end("no");
    };
    const refused = await postWebhook(url, { text: "x" });
    expect(refused).toEqual({ delivered: false, why: "the receiver answered HTTP 500" });

    answer = () => undefined; // never answers
    const began = Date.now();
    const hung = await postWebhook(url, { text: "x" }, 500);
    expect(hung).toEqual({ delivered: false, why: "no answer within the time allowed" });
    expect(Date.now() - began).toBeLessThan(3000);

    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    const down = await postWebhook(`${closed}/hooks/T0KEN-secret-path`, { text: "x" });
    expect(down).toEqual({ delivered: false, why: "the connection was refused" });
    for (const d of [refused, hung, down])
      expect(JSON.stringify(d)).not.toMatch(/127\.0\.0\.1|T0KEN/);
    server = createServer().listen(0, "127.0.0.1"); // for afterAll
  });
});
