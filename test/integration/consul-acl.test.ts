/**
 * The deploy lock against a real Consul that enforces ACLs (default deny): a token with the
 * permissions the README names takes and releases the lock; a token without them is refused with
 * a message naming what is missing, and leaves no session behind.
 */
import { randomUUID } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsul, toolPath, type ConsulAgent } from "../harness/agents.js";
import { ConsulClient } from "../../src/consul/client.js";
import { acquireLock, describeLockHolder } from "../../src/consul/lock.js";
import { OperationError } from "../../src/errors.js";

const management = randomUUID();
const key = "elm-infra/locks/deploy";
const holder = { holder: "ci@runner (pid 7)", command: "deploy elm-lang.org@1.0", since: "now" };
let consul: ConsulAgent;

/** The real consul CLI with the management token. */
async function consulCli(args: string[]): Promise<string> {
  const { stdout } = await execa(toolPath("consul"), args, {
    env: { CONSUL_HTTP_ADDR: consul.http, CONSUL_HTTP_TOKEN: management },
    timeout: 30_000,
    stdin: "ignore",
  });
  return stdout;
}

/** A token holding one policy with these rules. */
async function tokenWith(name: string, rules: string): Promise<string> {
  await consulCli(["acl", "policy", "create", "-name", name, "-rules", rules]);
  const out = await consulCli(["acl", "token", "create", "-policy-name", name, "-format=json"]);
  return (JSON.parse(out) as { SecretID: string }).SecretID;
}

async function sessions(): Promise<unknown[]> {
  const res = await fetch(`${consul.http}/v1/session/list`, {
    headers: { "X-Consul-Token": management },
    signal: AbortSignal.timeout(5_000),
  });
  return (await res.json()) as unknown[];
}

beforeAll(async () => {
  consul = await startConsul({ aclManagementToken: management });
}, 120_000);

afterAll(async () => {
  await consul?.stop();
});

describe("the deploy lock on a Consul that enforces ACLs", () => {
  it("without a token: refused, naming the permissions the token needs", async () => {
    const anonymous = new ConsulClient({ address: consul.http });
    const error = await acquireLock(anonymous, key, holder).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).message).toBe(
      `Consul refused PUT /v1/session/create: permission denied; the token needs session_prefix "" write (Consul at ${consul.http})`,
    );
    expect((error as OperationError).hint).toMatch(
      /key_prefix "elm-infra\/" write and session write/,
    );
    expect(await sessions()).toEqual([]);
  });

  it("with the permissions the hint names: the lock is taken, shown, and released", async () => {
    const token = await tokenWith(
      "elm-infra-deployer",
      'key_prefix "elm-infra/" { policy = "write" }\nsession_prefix "" { policy = "write" }',
    );
    const client = new ConsulClient({ address: consul.http, token });
    const lock = await acquireLock(client, key, holder);
    expect(await sessions()).toHaveLength(1);
    expect(await describeLockHolder(client, key)).toBe(
      "ci@runner (pid 7) (deploy elm-lang.org@1.0) since now",
    );
    const second = await acquireLock(client, key, { ...holder, holder: "bob" }).catch(
      (e: unknown) => e,
    );
    expect((second as Error).message).toBe(
      `${key} is locked by ci@runner (pid 7) (deploy elm-lang.org@1.0) since now`,
    );
    await lock.release();
    expect(await describeLockHolder(client, key)).toBeUndefined();
    expect(await sessions()).toEqual([]);
  });

  it("a session but no write on the key: refused, and the session it made is destroyed", async () => {
    const token = await tokenWith("sessions-only", 'session_prefix "" { policy = "write" }');
    const client = new ConsulClient({ address: consul.http, token });
    const error = await acquireLock(client, key, holder).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).message).toMatch(
      /^Consul refused PUT \/v1\/kv\/elm-infra\/locks\/deploy: permission denied; the token needs key_prefix "elm-infra\/" write \(Consul at http:\/\/127\.0\.0\.1:\d+\)$/,
    );
    expect(await sessions()).toEqual([]);
  });
});
