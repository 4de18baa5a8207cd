/**
 * A store that ignores conditional writes is refused for sharing state: a configuration error
 * (exit 2) on the target's store, saying what it got wrong and what to do. The store here is an
 * in-memory stand-in that accepts every write whatever its condition (the real one, versitygw,
 * honours them: test/integration/store.test.ts).
 */
import { describe, expect, it } from "vitest";
import { requireConditionalWrites } from "../../../src/cluster/store.js";
import { ConfigError, ExitCode } from "../../../src/errors.js";
import type { StoreClient } from "../../../src/store/client.js";

function storeIgnoringConditions(): StoreClient {
  const objects = new Map<string, string>();
  let version = 0;
  const put = async (key: string, body: string) => {
    objects.set(key, body);
    return `"v${++version}"`;
  };
  return {
    name: "s3://elm-state/elm-infra/production/ at https://fra1.example",
    put,
    putIfAbsent: put,
    putIfMatch: put,
    delete: async (key: string) => void objects.delete(key),
  } as unknown as StoreClient;
}

describe("requireConditionalWrites", () => {
  it("refuses a store that ignores If-None-Match and If-Match (exit 2, what to do)", async () => {
    const refused = await requireConditionalWrites(
      { file: "cluster.yaml", targetName: "production" },
      storeIgnoringConditions(),
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    const error = refused as ConfigError;
    expect(error.exitCode).toBe(ExitCode.Usage);
    expect(error.message).toContain(
      "cluster.yaml: targets.production.store: the store s3://elm-state/",
    );
    expect(error.message).toContain("it let If-None-Match: * overwrite a key that exists");
    expect(error.message).toContain("it let If-Match with a stale ETag overwrite");
    expect(error.hint).toContain(
      "remove the target's store to keep its state and lock on this machine",
    );
  });
});
