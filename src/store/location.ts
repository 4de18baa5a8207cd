/**
 * Where a target's shared store is, from its configuration (targets.<name>.store). Pure, and
 * apart from the client: OpenTofu's backend is rendered from it without loading the S3 client.
 */
import type { Target } from "../config/schema.js";
import { UsageError } from "../errors.js";

export interface StoreLocation {
  /** The S3 API's URL, e.g. https://fra1.digitaloceanspaces.com or http://127.0.0.1:7070. */
  endpoint: string;
  bucket: string;
  /** The signature's region (Spaces: the bucket's region; versitygw: its --region). */
  region: string;
  /** Every key this client reads or writes starts with it, e.g. `elm-infra/production/`. */
  prefix: string;
}

export function storeLocation(config: {
  targetName: string;
  target: Pick<Target, "store">;
}): StoreLocation {
  const store = config.target.store;
  if (!store) throw new UsageError(`target ${config.targetName} names no store`);
  return {
    endpoint: store.endpoint.replace(/\/$/, ""),
    bucket: store.bucket,
    region: store.region,
    prefix: store.prefix ?? `elm-infra/${config.targetName}/`,
  };
}
