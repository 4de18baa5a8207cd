/**
 * Disaster recovery's restore path against the real programs: a real Consul's snapshot (the real
 * `consul snapshot save`), encrypted by the real `age` to the recipient of a secrets-style
 * identity, is decrypted by the age adapter as it streams (the identity on its own pipe, no
 * plaintext file) into another real Consul through the client's restoreSnapshot: its state comes
 * back. A wrong identity fails with age's reason and leaves the state as it was.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptAgeStream } from "../../src/age/client.js";
import { ConsulClient } from "../../src/consul/client.js";
import { OperationError } from "../../src/errors.js";
import { ageIdentity, ageRecipient } from "../../src/plan/age.js";
import { startConsul, type ConsulAgent } from "../harness/agents.js";

const management = randomUUID();
const identity = ageIdentity(randomBytes(32));
let source: ConsulAgent;
let target: ConsulAgent;
let dir: string;
let encrypted: string;

beforeAll(async () => {
  [source, target] = await Promise.all([
    startConsul({ aclManagementToken: management }),
    startConsul({ aclManagementToken: management }),
  ]);
  dir = await mkdtemp(join(tmpdir(), "elm-infra-restore-"));
  await new ConsulClient({ address: source.http, token: management }).putKey(
    "elm-infra/drill",
    "kept",
  );
  // The snapshot job's way: the snapshot streamed through age, only the ciphertext written.
  encrypted = join(dir, "consul.snap.age");
  await execa(
    "bash",
    [
      "-c",
      'curl -sf -H "X-Consul-Token: $TOKEN" "$1/v1/snapshot" | age -r "$2" -o "$3"',
      "-",
    ].concat([source.http, ageRecipient(identity), encrypted]),
    { env: { TOKEN: management } },
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a snapshot decrypted as it streams into a real Consul's restore", () => {
  const client = () => new ConsulClient({ address: target.http, token: management });

  it("a wrong identity: age's reason, and the state unchanged", async () => {
    const age = decryptAgeStream(ageIdentity(randomBytes(32)), createReadStream(encrypted), {
      what: "consul.snap.age",
    });
    const restored = client()
      .restoreSnapshot(age.plaintext)
      .catch((e: unknown) => e);
    const error = await age.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(/age could not decrypt consul\.snap\.age \(exit 1\)/);
    expect((error as Error).message).not.toContain("AGE-SECRET-KEY");
    expect(await restored).toBeInstanceOf(Error);
    expect(await client().readKey("elm-infra/drill")).toBeUndefined();
  });

  it("the right identity: the state comes back, and no plaintext file was written", async () => {
    const age = decryptAgeStream(identity, createReadStream(encrypted), {
      what: "consul.snap.age",
    });
    await Promise.all([client().restoreSnapshot(age.plaintext), age.done]);
    expect((await client().readKey("elm-infra/drill"))?.value).toBe("kept");
    expect(await readdir(dir)).toEqual(["consul.snap.age"]);
    // The restored ACL state holds the management token: the same secret still works.
    expect(await client().leader()).not.toBe("");
  });
});
