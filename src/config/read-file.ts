import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { FileRefusedError } from "../errors.js";

/** What to call the file in messages, and how large it may be. */
export interface ReadLimits<Missing = never> {
  /** e.g. "configuration", "secrets file", "job template" */
  what: string;
  maxBytes: number;
  /** What the user can do when the file is missing or cannot be opened. */
  hint?: string;
  /**
   * Returned when the file does not exist (instead of a refusal): a known_hosts not made yet ("")
   * or an inventory not recorded yet (undefined).
   */
  ifMissing?: Missing;
}

/**
 * Reads a file the user named, once, bounded: only a regular file (a device, a FIFO, a socket or a
 * directory is refused without a byte read), only up to `maxBytes` (checked on the opened file
 * before reading, and again while reading, so a file that grows is refused too). Opened with
 * O_NONBLOCK: a FIFO with no writer never blocks the open, and is then refused as a FIFO. A pipe
 * (`--config /dev/stdin`, `<(cat cluster.yaml)`) is refused for the same reason: it can be read
 * only once, and the files beside a configuration are found relative to its folder.
 */
export async function readUserFile<Missing = never>(
  file: string,
  limits: ReadLimits<Missing>,
): Promise<string | Missing> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    if (missing && "ifMissing" in limits) return limits.ifMissing as Missing;
    throw new FileRefusedError(file, cannotOpen(error, limits.what), limits.hint);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notAFile(file, info, limits.what);
    if (info.size > limits.maxBytes) throw tooLarge(file, limits);
    return await readBounded(handle, file, limits);
  } finally {
    await handle.close();
  }
}

/**
 * Checks that a file the user named is a regular file without reading it (for a file streamed
 * elsewhere, as a backup to restore is); returns its size. Never blocks, as readUserFile.
 */
export async function requireRegularFile(
  file: string,
  what: string,
  hint?: string,
): Promise<number> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw new FileRefusedError(file, cannotOpen(error, what), hint);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notAFile(file, info, what);
    return info.size;
  } finally {
    await handle.close();
  }
}

/** Reads until the end, never more than maxBytes + 1 bytes. */
async function readBounded(
  handle: FileHandle,
  file: string,
  limits: ReadLimits<unknown>,
): Promise<string> {
  const buffer = Buffer.alloc(Math.min(limits.maxBytes + 1, 1 << 16));
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > limits.maxBytes) throw tooLarge(file, limits);
    chunks.push(Buffer.from(buffer.subarray(0, bytesRead)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function tooLarge(file: string, limits: ReadLimits<unknown>): FileRefusedError {
  return new FileRefusedError(
    file,
    `is larger than ${formatBytes(limits.maxBytes)}; a ${limits.what} is refused past that`,
    `check that ${file} is the ${limits.what} you meant`,
  );
}

type FileKind = Parameters<typeof kindOf>[0];

function notAFile(file: string, info: FileKind, what: string): FileRefusedError {
  return new FileRefusedError(
    file,
    `is ${kindOf(info)}, not a regular file; a ${what} must be a file`,
    info.isFIFO()
      ? `a pipe can be read only once and has no folder beside it: save it to a file and pass that file's path`
      : `pass the path of the ${what} itself`,
  );
}

function formatBytes(bytes: number): string {
  return bytes >= 1_000_000 ? `${bytes / 1_000_000} MB` : `${bytes / 1000} kB`;
}

function kindOf(info: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a pipe (FIFO)";
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  if (info.isSocket()) return "a socket";
  return "not a file";
}

function cannotOpen(error: unknown, what: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return `cannot read the file: no such ${what}`;
  if (code === "EACCES" || code === "EPERM") return `cannot read the ${what}: permission denied`;
  if (code === "ELOOP") return `cannot read the ${what}: too many symbolic links`;
  if (code === "ENXIO") return `is a socket or a device with nothing behind it, not a file`;
  return `cannot read the ${what} (${code ?? String(error)})`;
}
