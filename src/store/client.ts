/**
 * The target's shared object store (issue 23): an S3-compatible bucket (DigitalOcean Spaces in
 * production, versitygw on this machine) holding what operators on several machines share, under
 * one prefix. A small typed client on @aws-sdk/client-s3: get, put, list, delete, and the two
 * conditional writes the lease lock and OpenTofu's lockfile need: put-if-absent
 * (`If-None-Match: *`) and put-if-match (`If-Match: <etag>`). A refused condition is an answer
 * (`undefined`), not an error; anything else the store says fails with its address and bucket.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { OperationError } from "../errors.js";
import type { StoreLocation } from "./location.js";

export type { StoreLocation };

export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface StoredObject {
  body: string;
  etag: string;
}

/** An object's size and the user metadata written with it (`x-amz-meta-*`, names in lower case). */
export interface ObjectHead {
  bytes: number;
  metadata: Record<string, string>;
}

/**
 * How long a file's upload or download may take: a minute, plus a second for each 256 KiB (the
 * slowest link worth waiting for), at most six hours; a store that stalls fails, not hangs.
 */
export const transferTimeoutMs = (bytes: number) =>
  Math.min(60_000 + Math.ceil(bytes / 262_144) * 1000, 6 * 3_600_000);

/** A store that refused a request (other than a refused condition), with where and why. */
export class StoreError extends OperationError {}

export class StoreClient {
  private readonly s3: S3Client;

  constructor(
    readonly location: StoreLocation,
    credentials: StoreCredentials,
    private readonly timeoutMs = 10_000,
  ) {
    // The SDK warns on stderr, once a process, that its releases after January 2027 need Node 22:
    // nothing a user of this release can act on, and the CLI's output is its own.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    this.s3 = new S3Client({
      endpoint: location.endpoint,
      region: location.region,
      credentials,
      // path-style: a bucket under the endpoint's own host name (versitygw, any loopback store)
      forcePathStyle: true,
      maxAttempts: 2,
      // only what the request needs: the SDK's default CRC32 trailers are not understood everywhere
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // silent: a failed streamed upload is otherwise announced on the console (the SDK's
      // default when no logger is given); the StoreError says it, once
      logger: silentLogger,
    });
  }

  /** `s3://bucket/prefix` at the endpoint, as messages name the store. */
  get name(): string {
    return `s3://${this.location.bucket}/${this.location.prefix} at ${this.location.endpoint}`;
  }

  /** The object under `key`, or undefined when there is none. */
  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const answer = await this.s3.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
        this.options(),
      );
      const body = (await answer.Body?.transformToString("utf-8")) ?? "";
      return { body, etag: answer.ETag ?? "" };
    } catch (error) {
      if (isMissingKey(error)) return undefined;
      throw this.failure("read", key, error);
    }
  }

  /** Writes `body` under `key` whatever is there; gives the new ETag. */
  async put(key: string, body: string): Promise<string> {
    return (await this.write(key, body, {})) as string;
  }

  /** Writes `body` only when nothing is under `key` (If-None-Match: *); undefined when refused. */
  putIfAbsent(key: string, body: string): Promise<string | undefined> {
    return this.write(key, body, { IfNoneMatch: "*" });
  }

  /** Writes `body` only when `key`'s ETag is still `etag` (If-Match); undefined when refused. */
  putIfMatch(key: string, body: string, etag: string): Promise<string | undefined> {
    return this.write(key, body, { IfMatch: etag });
  }

  /** The keys under `prefix` (relative to the client's prefix), in the store's order. */
  async list(prefix = ""): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    // bounded: 100 pages of 1000 keys is far more than a target keeps
    for (let page = 0; page < 100; page++) {
      let answer;
      try {
        answer = await this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: this.key(prefix),
            ...(token ? { ContinuationToken: token } : {}),
          }),
          this.options(),
        );
      } catch (error) {
        throw this.failure("list", prefix, error);
      }
      for (const o of answer.Contents ?? [])
        if (o.Key) keys.push(o.Key.slice(this.location.prefix.length));
      if (!answer.IsTruncated || !answer.NextContinuationToken) return keys;
      token = answer.NextContinuationToken;
    }
    return keys;
  }

  /** The size and metadata of the object under `key`, or undefined when there is none. */
  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const answer = await this.s3.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
        this.options(),
      );
      return { bytes: answer.ContentLength ?? 0, metadata: answer.Metadata ?? {} };
    } catch (error) {
      // a HEAD answer has no body: a missing key is a bare 404 ("NotFound")
      if (statusOf(error) === 404) return undefined;
      throw this.failure("read", key, error);
    }
  }

  /**
   * Streams the file at `path` to `key` with `metadata` (binary-safe, never whole in memory),
   * whatever is there; within transferTimeoutMs of its size.
   */
  async upload(key: string, path: string, metadata: Record<string, string> = {}): Promise<void> {
    const { size } = await stat(path);
    const body = createReadStream(path);
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(key),
          Body: body,
          ContentLength: size,
          ContentType: "application/octet-stream",
          Metadata: metadata,
        }),
        { abortSignal: AbortSignal.timeout(transferTimeoutMs(size)) },
      );
    } catch (error) {
      throw this.failure("write", key, error);
    } finally {
      body.destroy();
    }
  }

  /**
   * Streams the object under `key` into the file at `path` (binary-safe), written aside and
   * renamed when whole and when `check` (given the aside file and the object's head) accepts it,
   * within transferTimeoutMs of its size; gives the head. A failure leaves nothing behind, and a
   * file already at `path` as it was.
   */
  async download(
    key: string,
    path: string,
    check: (file: string, head: ObjectHead) => Promise<void> = async () => undefined,
  ): Promise<ObjectHead> {
    const head = await this.head(key);
    if (!head)
      throw new StoreError(
        `there is no ${this.key(key)} in the store ${this.name}`,
        "list what the store holds, or take a backup first",
      );
    const signal = AbortSignal.timeout(transferTimeoutMs(head.bytes));
    const aside = `${path}.part`;
    try {
      const answer = await this.s3.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
        { abortSignal: signal },
      );
      await pipeline(answer.Body as Readable, createWriteStream(aside, { mode: 0o600 }), {
        signal,
      });
    } catch (error) {
      await rm(aside, { force: true });
      throw this.failure("read", key, error);
    }
    try {
      await check(aside, head);
      await rename(aside, path);
      return head;
    } catch (error) {
      await rm(aside, { force: true });
      throw error;
    }
  }

  /** Deletes `key`; a key that is not there is no error. */
  async delete(key: string): Promise<void> {
    try {
      await this.s3.send(
        new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
        this.options(),
      );
    } catch (error) {
      if (isMissingKey(error)) return;
      throw this.failure("delete", key, error);
    }
  }

  close(): void {
    this.s3.destroy();
  }

  private async write(
    key: string,
    body: string,
    condition: { IfNoneMatch?: string; IfMatch?: string },
  ): Promise<string | undefined> {
    try {
      const answer = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(key),
          Body: body,
          ContentType: "application/json",
          ...condition,
        }),
        this.options(),
      );
      return answer.ETag ?? "";
    } catch (error) {
      // 412: the condition was not met; 409: S3 refuses one of two conditional writes at once
      const status = statusOf(error);
      if ((condition.IfMatch || condition.IfNoneMatch) && (status === 412 || status === 409))
        return undefined;
      throw this.failure("write", key, error);
    }
  }

  private key(key: string): string {
    return `${this.location.prefix}${key}`;
  }

  private options(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.timeoutMs) };
  }

  private failure(what: string, key: string, error: unknown): StoreError {
    const status = statusOf(error);
    const reason =
      error instanceof S3ServiceException
        ? `${error.name}${status ? ` (HTTP ${status})` : ""}: ${error.message}`
        : error instanceof Error
          ? error.message
          : String(error);
    return new StoreError(
      `could not ${what} ${this.key(key)} in the store ${this.name}: ${reason}`,
      status === 403
        ? "check the store's access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and that it may use the bucket"
        : "check the target's store (endpoint, bucket, region) in cluster.yaml and that the store answers",
      { cause: error },
    );
  }
}

const silentLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** 404 for the key, not for the bucket (a missing bucket is the configuration's error). */
function isMissingKey(error: unknown): boolean {
  return statusOf(error) === 404 && (error as Error).name !== "NoSuchBucket";
}

function statusOf(error: unknown): number | undefined {
  if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode;
  return undefined;
}
