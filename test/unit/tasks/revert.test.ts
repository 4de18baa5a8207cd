import { describe, expect, it } from "vitest";
import { ConflictError, InterruptedError, OperationError } from "../../../src/errors.js";
import {
  revertFailedRollout,
  revertVerdict,
  type FailedRollout,
  type RevertOutcome,
} from "../../../src/tasks/revert.js";

const deploy: FailedRollout = {
  what: "deploy of site@v3",
  previousVersion: "v2",
  revertHint: "check elm-infra status",
};
const ingress: FailedRollout = {
  what: "ingress@3.4.1 on worker-2",
  previousVersion: "3.4.0",
  untouched: "the workers after it were not touched",
  hint: "read the allocation's events",
  revertHint: "check elm-infra status",
};
const verified: RevertOutcome = { verified: true };
const notServing: RevertOutcome = { verified: false, why: "Traefik on worker-2 did not answer" };
const crashed = new OperationError("site@v3 did not become healthy: exit 1", "read the logs");
const interrupted = new InterruptedError();
const locked = new ConflictError("locked by alice", "wait");

describe("the revert policy every rollout shares", () => {
  it.each([
    [
      "a failed service rollout, revert verified: what serves now, the failure's hint",
      crashed,
      deploy,
      verified,
      "deploy of site@v3 failed and was reverted (v2 still serves): site@v3 did not become healthy: exit 1",
      "read the logs",
      undefined,
    ],
    [
      "nothing served before: said so, and stopped, not reverted",
      crashed,
      { ...deploy, previousVersion: undefined },
      verified,
      "deploy of site@v3 failed and was stopped (nothing was serving before): site@v3 did not become healthy: exit 1",
      "read the logs",
      undefined,
    ],
    [
      "a failed ingress worker, revert verified: what was left untouched, the rollout's hint",
      new OperationError("Traefik on worker-2 did not run and answer within 120s"),
      ingress,
      verified,
      "ingress@3.4.1 on worker-2 failed and was reverted (3.4.0 still serves): Traefik on worker-2 did not run and answer within 120s; the workers after it were not touched",
      "read the allocation's events",
      undefined,
    ],
    [
      "a revert not seen serving: both said, the revert's hint, never 'still serves'",
      crashed,
      ingress,
      notServing,
      "ingress@3.4.1 on worker-2 failed: site@v3 did not become healthy: exit 1\nthe revert did not complete either: Traefik on worker-2 did not answer",
      "check elm-infra status",
      "the revert did not complete: Traefik on worker-2 did not answer",
    ],
  ])("%s", (_name, failure, rollout, outcome, message, hint, warning) => {
    const verdict = revertVerdict(failure, rollout, outcome);
    expect(verdict.error).toBeInstanceOf(OperationError);
    expect((verdict.error as OperationError).message).toBe(message);
    expect((verdict.error as OperationError).hint).toBe(hint);
    expect(verdict.warning).toBe(warning);
  });

  it.each([
    ["Ctrl-C", interrupted],
    ["a refusal", locked],
  ])(
    "%s, revert verified: the same error (its exit code), and what was reverted said",
    (_n, failure) => {
      const verdict = revertVerdict(failure, ingress, verified);
      expect(verdict.error).toBe(failure);
      expect(verdict.warning).toBe(
        "ingress@3.4.1 on worker-2 was reverted (3.4.0 still serves); the workers after it were not touched",
      );
    },
  );

  it("Ctrl-C whose revert is not seen serving: exit 1 with both, not a quiet 130", () => {
    const verdict = revertVerdict(interrupted, deploy, notServing);
    expect(verdict.error).toBeInstanceOf(OperationError);
    expect((verdict.error as Error).message).toMatch(/the revert did not complete either/);
  });

  it("the revert runs on its own signal (a Ctrl-C that ended the rollout still reverts), and is announced", async () => {
    const warnings: string[] = [];
    let revertSignal: AbortSignal | undefined;
    const ended = await revertFailedRollout(interrupted, deploy, {
      warn: (line) => warnings.push(line),
      revert: async (signal) => void (revertSignal = signal),
    }).catch((e: unknown) => e);
    expect(ended).toBe(interrupted);
    expect(revertSignal?.aborted).toBe(false);
    expect(warnings).toEqual([
      "deploy of site@v3 failed: reverting",
      "deploy of site@v3 was reverted (v2 still serves)",
    ]);
  });

  it("a revert that throws is a revert not verified", async () => {
    const ended = await revertFailedRollout(crashed, deploy, {
      warn: () => undefined,
      revert: () => Promise.reject(new Error("Nomad answered 500")),
    }).catch((e: unknown) => e);
    expect((ended as Error).message).toBe(
      "deploy of site@v3 failed: site@v3 did not become healthy: exit 1\nthe revert did not complete either: Nomad answered 500",
    );
  });
});
