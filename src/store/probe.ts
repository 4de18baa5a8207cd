/**
 * Does the store honour the conditional writes a shared lock needs? Whether DigitalOcean Spaces
 * (or any other S3-compatible store) refuses a second `If-None-Match: *` write and a stale
 * `If-Match` is not something to assume: setup asks it, on a key of its own, and a store that
 * accepts either is refused for sharing state (two operators would both "take" the lock).
 * `judgeConditionalWrites` is the decision, pure; `probeConditionalWrites` asks the store.
 */
import { randomUUID } from "node:crypto";
import type { StoreClient } from "./client.js";

/** What the store answered to each write of the probe: accepted (its ETag) or refused. */
export interface ConditionalWriteAnswers {
  /** put-if-absent of a new key: must be accepted. */
  firstIfAbsent: "accepted" | "refused";
  /** put-if-absent of the same key again: must be refused. */
  secondIfAbsent: "accepted" | "refused";
  /** put-if-match with the current ETag: must be accepted. */
  currentIfMatch: "accepted" | "refused";
  /** put-if-match with the ETag before that: must be refused. */
  staleIfMatch: "accepted" | "refused";
}

export type ConditionalWriteVerdict = { honoured: true } | { honoured: false; problems: string[] };

export function judgeConditionalWrites(a: ConditionalWriteAnswers): ConditionalWriteVerdict {
  const problems: string[] = [];
  if (a.firstIfAbsent === "refused")
    problems.push("it refused to create a new key with If-None-Match: *");
  if (a.secondIfAbsent === "accepted")
    problems.push("it let If-None-Match: * overwrite a key that exists");
  if (a.currentIfMatch === "refused")
    problems.push("it refused If-Match with the object's current ETag");
  if (a.staleIfMatch === "accepted") problems.push("it let If-Match with a stale ETag overwrite");
  return problems.length === 0 ? { honoured: true } : { honoured: false, problems };
}

/** The probe's keys, under the store's prefix: one per run, deleted afterwards. */
export const probePrefix = "probe/";

/** Asks the store with four writes to a key of its own (deleted afterwards). */
export async function probeConditionalWrites(store: StoreClient): Promise<ConditionalWriteVerdict> {
  const key = `${probePrefix}${randomUUID()}`;
  const answer = (etag: string | undefined) => (etag === undefined ? "refused" : "accepted");
  try {
    const first = await store.putIfAbsent(key, "1");
    // without a first version there is nothing to compare: write one plainly
    const v1 = first ?? (await store.put(key, "1"));
    const second = await store.putIfAbsent(key, "2");
    const v2 = second ?? v1;
    const current = await store.putIfMatch(key, "3", v2);
    // v1 is stale now (each body differs, so each version's ETag does)
    const stale = await store.putIfMatch(key, "4", v1);
    return judgeConditionalWrites({
      firstIfAbsent: answer(first),
      secondIfAbsent: answer(second),
      currentIfMatch: answer(current),
      staleIfMatch: answer(stale),
    });
  } finally {
    await store.delete(key);
  }
}
