/**
 * The shared store's client against a real S3-compatible server (versitygw on loopback, its own
 * folder): objects are written, read, listed and deleted under the target's prefix; put-if-absent
 * refuses a key that exists and put-if-match an ETag that is no longer current; a wrong key or a
 * missing bucket fails naming the store and what to check. Setup's probe finds that this store
 * honours both conditions, and leaves nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreClient, StoreError } from "../../src/store/client.js";
import { probeConditionalWrites, probePrefix } from "../../src/store/probe.js";
import { startObjectStore, type LocalObjectStore } from "../harness/object-store.js";

let store: LocalObjectStore;
let client: StoreClient;

beforeAll(async () => {
  store = await startObjectStore();
  client = new StoreClient(store.location("elm-infra/staging/"), store.credentials);
});

afterAll(async () => {
  client?.close();
  await store?.stop();
});

describe("the store's client", () => {
  it("writes, reads, lists and deletes objects under the target's prefix", async () => {
    expect(await client.get("inventory.json")).toBeUndefined();
    const etag = await client.put("inventory.json", '{"hosts":[]}');
    expect(etag).toMatch(/\S/);
    expect(await client.get("inventory.json")).toEqual({ body: '{"hosts":[]}', etag });
    await client.put("known_hosts", "h1 ssh-ed25519 AAAA");
    // another target's prefix is not listed
    const other = new StoreClient(store.location("elm-infra/production/"), store.credentials);
    await other.put("inventory.json", "{}");
    other.close();
    expect((await client.list()).sort()).toEqual(["inventory.json", "known_hosts"]);
    await client.delete("known_hosts");
    await client.delete("known_hosts"); // twice: not an error
    expect(await client.list()).toEqual(["inventory.json"]);
  });

  it("put-if-absent writes once and refuses the second writer", async () => {
    const first = await client.putIfAbsent("locks/once", "first");
    expect(first).toMatch(/\S/);
    expect(await client.putIfAbsent("locks/once", "second")).toBeUndefined();
    expect((await client.get("locks/once"))?.body).toBe("first");
  });

  it("put-if-match replaces only the version it read", async () => {
    const v1 = (await client.put("lease", "v1")) as string;
    const v2 = await client.putIfMatch("lease", "v2", v1);
    expect(v2).toMatch(/\S/);
    expect(v2).not.toBe(v1);
    // v1 is stale now: refused, and v2 stays
    expect(await client.putIfMatch("lease", "v3", v1)).toBeUndefined();
    expect(await client.get("lease")).toEqual({ body: "v2", etag: v2 });
  });

  it("of two put-if-absent at once exactly one wins", async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => client.putIfAbsent("locks/race", `taker ${i}`)),
    );
    expect(answers.filter((a) => a !== undefined)).toHaveLength(1);
  });

  it("a wrong access key or a missing bucket fails naming the store and what to check", async () => {
    const wrong = new StoreClient(store.location("x/"), {
      accessKeyId: store.credentials.accessKeyId,
      secretAccessKey: "not-the-secret",
    });
    const denied = await wrong.put("k", "v").catch((e: unknown) => e);
    wrong.close();
    expect(denied).toBeInstanceOf(StoreError);
    expect((denied as StoreError).message).toContain(`at ${store.endpoint}`);
    expect((denied as StoreError).hint).toContain("AWS_ACCESS_KEY_ID");
    expect((denied as StoreError).message).not.toContain("not-the-secret");

    const missing = new StoreClient(
      { ...store.location("x/"), bucket: "no-such-bucket" },
      store.credentials,
    );
    const gone = await missing.get("k").catch((e: unknown) => e);
    missing.close();
    expect(gone).toBeInstanceOf(StoreError);
    expect((gone as StoreError).message).toContain("s3://no-such-bucket/x/");
  });
});

describe("setup's probe of the conditional writes", () => {
  it("finds that versitygw honours If-None-Match and If-Match, and leaves no probe object", async () => {
    expect(await probeConditionalWrites(client)).toEqual({ honoured: true });
    expect(await client.list(probePrefix)).toEqual([]);
  });
});
