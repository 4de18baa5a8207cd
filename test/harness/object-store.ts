/**
 * Test harness: a real S3-compatible server (versitygw, its posix backend) on a free loopback port,
 * its buckets (and their versions) in a temporary folder, one bucket made through the S3 API.
 * versitygw is found as the other tools are (toolPath: the tools' cache, then PATH).
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { execa, type ResultPromise } from "execa";
import { request } from "undici";
import type { StoreCredentials, StoreLocation } from "../../src/store/client.js";
import { toolPath } from "./agents.js";
import { freePorts } from "./ports.js";

export interface LocalObjectStore {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: StoreCredentials;
  /** The store's location with `prefix`, for a StoreClient. */
  location(prefix: string): StoreLocation;
  /** Where the posix backend keeps the buckets' files (what the secrets audit could search). */
  dir: string;
  stop(): Promise<void>;
}

/** Starts versitygw with one bucket; resolves once it answers (at most 15 s). */
export async function startObjectStore(bucket = "elm-infra-test"): Promise<LocalObjectStore> {
  const dir = await mkdtemp(join(tmpdir(), "elm-infra-store-"));
  await mkdir(join(dir, "data"));
  await mkdir(join(dir, "versions"));
  const [port] = (await freePorts(1)) as [number];
  const region = "us-east-1";
  const credentials = {
    accessKeyId: `test${randomBytes(6).toString("hex")}`,
    secretAccessKey: randomBytes(18).toString("hex"),
  };
  const child: ResultPromise = execa(
    toolPath("versitygw"),
    [
      "--port",
      `127.0.0.1:${port}`,
      "--region",
      region,
      "--quiet",
      "posix",
      "--versioning-dir",
      join(dir, "versions"),
      join(dir, "data"),
    ],
    {
      reject: false,
      stdin: "ignore",
      // Bounded, yet longer than any run that uses it: the e2e's store lives for the whole run
      // (about 50 min; 30 min here once ended it under the disaster drill). stop() ends it first.
      timeout: 7_200_000,
      // the root account only through the environment: never on a command line `ps` shows
      env: {
        ROOT_ACCESS_KEY_ID: credentials.accessKeyId,
        ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
    },
  );
  const stop = async () => {
    child.kill("SIGTERM");
    await Promise.race([child, new Promise((r) => setTimeout(r, 5_000))]);
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    // any HTTP answer (403 without a signature) means it listens
    const status = await request(`${endpoint}/`, { headersTimeout: 2_000 })
      .then(async (r) => (await r.body.dump(), r.statusCode))
      .catch(() => 0);
    if (status !== 0) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      const out = await Promise.race([child, Promise.resolve(undefined)]);
      await stop();
      throw new Error(`versitygw did not start: ${String(out?.stderr ?? "").slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    await stop();
    throw error;
  } finally {
    s3.destroy();
  }
  return {
    endpoint,
    bucket,
    region,
    credentials,
    dir,
    location: (prefix) => ({ endpoint, bucket, region, prefix }),
    stop,
  };
}
