import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { OperationError } from "../errors.js";
import type { DockerClient } from "./client.js";

/** A worker's Docker engine, by the name the user knows the worker by. */
export interface WorkerEngine {
  name: string;
  docker: DockerClient;
}

/**
 * What a worker holds after shipping or checking:
 * - `loaded`: the image was sent and now has the expected ID;
 * - `present`: it already had the expected ID, nothing was sent;
 * - `missing`: it has no image under that reference (only when checking);
 * - `mismatch`: it has a different image under that reference;
 * - `failed`: it could not be reached or the load failed.
 */
export type WorkerImageState = "loaded" | "present" | "missing" | "mismatch" | "failed";

export interface WorkerImage {
  worker: string;
  state: WorkerImageState;
  /** The ID the worker has under the reference, when it has one. */
  imageId?: string;
  error?: string;
}

export interface Shipment {
  ref: string;
  /** The ID every worker must have. */
  imageId: string;
  workers: WorkerImage[];
  /** True only when every worker has exactly this image. */
  complete: boolean;
}

const good: ReadonlySet<WorkerImageState> = new Set(["loaded", "present"]);

/** The state of one worker, from the ID it reports. */
export function classifyWorker(
  expectedId: string,
  actualId: string | undefined,
  sent: boolean,
): WorkerImageState {
  if (actualId === undefined) return "missing";
  if (actualId !== expectedId) return "mismatch";
  return sent ? "loaded" : "present";
}

/** Complete only when there is at least one worker and all hold the expected image. */
export function isComplete(workers: readonly WorkerImage[]): boolean {
  return workers.length > 0 && workers.every((w) => good.has(w.state));
}

/** One line per worker, for progress and for the error of a half-shipped version. */
export function describeWorkers(shipment: Pick<Shipment, "workers" | "imageId">): string[] {
  return shipment.workers.map((w) => {
    switch (w.state) {
      case "loaded":
        return `${w.worker}: loaded ${short(shipment.imageId)}`;
      case "present":
        return `${w.worker}: already had ${short(shipment.imageId)}`;
      case "missing":
        return `${w.worker}: does not have the image`;
      case "mismatch":
        return `${w.worker}: has ${short(w.imageId ?? "?")} instead of ${short(shipment.imageId)}`;
      case "failed":
        return `${w.worker}: failed: ${w.error ?? "unknown error"}`;
    }
  });
}

/** The error for a shipment that did not reach every worker. */
export function incompleteShipment(shipment: Shipment): OperationError {
  const bad = shipment.workers.filter((w) => !good.has(w.state)).length;
  return new OperationError(
    `${shipment.ref} is on ${shipment.workers.length - bad} of ${shipment.workers.length} workers:\n` +
      describeWorkers(shipment)
        .map((l) => `  ${l}`)
        .join("\n"),
    "run the same image command again: workers that already have the image are skipped",
  );
}

function short(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** What each worker has under `ref`, compared with `expectedId`. Sends nothing. */
export async function checkWorkers(
  ref: string,
  expectedId: string,
  workers: readonly WorkerEngine[],
): Promise<Shipment> {
  const results = await Promise.all(
    workers.map(async (w): Promise<WorkerImage> => {
      try {
        const info = await w.docker.inspect(ref);
        return withId(
          { worker: w.name, state: classifyWorker(expectedId, info?.id, false) },
          info?.id,
        );
      } catch (error) {
        return { worker: w.name, state: "failed", error: (error as Error).message };
      }
    }),
  );
  return { ref, imageId: expectedId, workers: results, complete: isComplete(results) };
}

/**
 * Sends the image `ref` from `source` to every worker that does not have it yet (`docker save`
 * once, `docker load` on each), then reads each worker's image ID back. Never throws for one
 * worker's failure: the result says, per worker, what it holds.
 */
export async function shipImage(
  source: DockerClient,
  ref: string,
  workers: readonly WorkerEngine[],
  options: { onLog?: (line: string) => void } = {},
): Promise<Shipment> {
  const info = await source.inspect(ref);
  if (!info) throw new OperationError(`${ref} is not in the ${source.where}`, "build it first");
  const expectedId = info.id;
  const before = await checkWorkers(ref, expectedId, workers);
  const toSend = workers.filter(
    (w) => before.workers.find((r) => r.worker === w.name)?.state !== "present",
  );
  if (toSend.length === 0) return before;

  const dir = await mkdtemp(join(tmpdir(), "elm-infra-image-"));
  try {
    const file = join(dir, "image.tar");
    options.onLog?.(`saving ${ref} (${short(expectedId)})`);
    await pipeline(await source.save(ref), createWriteStream(file, { mode: 0o600 }));
    const sent = await Promise.all(
      toSend.map(async (w): Promise<WorkerImage> => {
        try {
          options.onLog?.(`${w.name}: loading ${ref}`);
          await w.docker.loadFile(file);
          const after = await w.docker.inspect(ref);
          return withId(
            { worker: w.name, state: classifyWorker(expectedId, after?.id, true) },
            after?.id,
          );
        } catch (error) {
          return { worker: w.name, state: "failed", error: (error as Error).message };
        }
      }),
    );
    const results = before.workers.map((r) => sent.find((s) => s.worker === r.worker) ?? r);
    return { ref, imageId: expectedId, workers: results, complete: isComplete(results) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function withId(result: WorkerImage, id: string | undefined): WorkerImage {
  return id === undefined ? result : { ...result, imageId: id };
}
