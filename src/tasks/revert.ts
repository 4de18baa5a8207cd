import { ConflictError, ElmInfraError, InterruptedError, OperationError } from "../errors.js";

/**
 * The revert policy every rollout shares (the services' canary rollouts and the ingress's
 * worker-by-worker one): the new version failed, so the previous one is put back, the revert is
 * followed until it is seen serving, and the user is told what was reverted and whether it was.
 */
export interface FailedRollout {
  /** What failed, as the user named it: "deploy of elm-lang.org@v3", "ingress@3.4.1 on worker-2". */
  what: string;
  /** The version put back; undefined when nothing served before. */
  previousVersion: string | undefined;
  /** What the failure left as it was, said after the verdict ("the workers after it were not touched"). */
  untouched?: string;
  /** The hint when the failure carries none. */
  hint?: string;
  /** The hint when the revert itself was not seen to complete. */
  revertHint: string;
}

/**
 * A rollout that failed and whose previous version was put back and seen serving: the ledger
 * records it as "reverted". Said as the OperationError it is (its name in --json stays that).
 */
export class RevertedError extends OperationError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = "OperationError";
  }
}

/** How the revert ended: seen serving, or why not. */
export type RevertOutcome = { verified: true } | { verified: false; why: string };

/**
 * Pure: the error a failed rollout ends with, given how its revert ended. An interruption or a
 * refusal (Ctrl-C, a lock someone else took) keeps its own type and exit code once the revert is
 * verified; a revert not seen serving is always said, never swallowed.
 */
export function revertVerdict(
  failure: unknown,
  rollout: FailedRollout,
  revert: RevertOutcome,
): { error: unknown; warning?: string } {
  const reason = failure instanceof Error ? failure.message : String(failure);
  if (!revert.verified)
    return {
      error: new OperationError(
        `${rollout.what} failed: ${reason}\nthe revert did not complete either: ${revert.why}`,
        rollout.revertHint,
      ),
      warning: `the revert did not complete: ${revert.why}`,
    };
  // With nothing to go back to, the revert is stopping the job: said as that, never as a revert.
  const [done, now] = rollout.previousVersion
    ? ["was reverted", `${rollout.previousVersion} still serves`]
    : ["was stopped", "nothing was serving before"];
  const untouched = rollout.untouched ? `; ${rollout.untouched}` : "";
  if (failure instanceof InterruptedError || failure instanceof ConflictError)
    return { error: failure, warning: `${rollout.what} ${done} (${now})${untouched}` };
  const hint = (failure instanceof ElmInfraError ? failure.hint : undefined) ?? rollout.hint;
  const message = `${rollout.what} failed and ${done} (${now}): ${reason}${untouched}`;
  return {
    error: rollout.previousVersion
      ? new RevertedError(message, hint)
      : new OperationError(message, hint),
  };
}

/**
 * After `failure`: says a revert starts, runs `revert` (which puts the previous version back and
 * returns once it is seen serving, or throws) and throws what revertVerdict decides. The revert
 * gets its own signal: a Ctrl-C that ended the rollout still reverts (a second one quits at once).
 */
export async function revertFailedRollout(
  failure: unknown,
  rollout: FailedRollout,
  o: { warn: (line: string) => void; revert: (signal: AbortSignal) => Promise<void> },
): Promise<never> {
  o.warn(
    `${rollout.what} failed: ${rollout.previousVersion ? "reverting" : "stopping it (nothing was serving before)"}`,
  );
  const outcome: RevertOutcome = await o.revert(new AbortController().signal).then(
    () => ({ verified: true }),
    (error: unknown) => ({
      verified: false,
      why: error instanceof Error ? error.message : String(error),
    }),
  );
  const { error, warning } = revertVerdict(failure, rollout, outcome);
  if (warning) o.warn(warning);
  throw error;
}
