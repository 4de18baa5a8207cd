/**
 * Pure: how a working copy's shared file (the inventory, the pinned host keys, the trusted roots)
 * follows the target's store when it loads. Each working copy records the SHA-256 of every file
 * as it last exchanged it with the store (put there, or fetched from there): a file unchanged
 * here since then follows the store (another operator's scale, reboot or destroy changed it
 * there); a file changed here since (a command that stopped before it shared what it wrote) is
 * kept, and said, until this copy's next bring-up or scale puts it there.
 */
import { createHash } from "node:crypto";

/** The SHA-256 of a shared file's text, as the record keeps it. */
export const sha256OfText = (text: string) => createHash("sha256").update(text).digest("hex");

/** What this copy does with one shared file. */
export type SharedFileAction =
  /** Neither here nor in the store, or the same in both: nothing to write. */
  | "in-sync"
  /** Missing here: the store's copy written here. */
  | "fetch"
  /** Unchanged here since the last exchange, changed in the store: the store's copy taken. */
  | "refresh"
  /** Unchanged here since the last exchange, gone from the store (destroy forgot it): removed. */
  | "remove"
  /** Changed here since the last exchange (or never exchanged), different in the store: kept. */
  | "keep";

/**
 * Decides from three hashes: the file here, as last exchanged (the record), and in the store
 * (undefined where there is none).
 */
export function judgeSharedFile(o: {
  here?: string;
  recorded?: string;
  stored?: string;
}): SharedFileAction {
  if (o.here === o.stored) return "in-sync";
  if (o.here === undefined) return "fetch";
  if (o.here !== o.recorded) return "keep";
  return o.stored === undefined ? "remove" : "refresh";
}

/** The record: each shared file's key in the store, and the SHA-256 last exchanged. */
export type SharedFilesRecord = Record<string, string>;

/** The record from its file's text; an unreadable record is an empty one (every file kept). */
export function parseSharedFilesRecord(text: string | undefined): SharedFilesRecord {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter(
        (e): e is [string, string] => typeof e[1] === "string" && /^[0-9a-f]{64}$/.test(e[1]),
      ),
    );
  } catch {
    return {};
  }
}
