/**
 * A command awaiting something nothing can settle any more (a bug: a promise whose only timer was
 * cleared, a socket gone without an event) empties Node's event loop, and the process would exit
 * 0 with no result, as if the command had succeeded. `unlessStalled` makes that the command's
 * failure instead: Node says the loop emptied ('beforeExit'), the command's wait rejects.
 */

/** Calls `listener` when nothing is left to run; returns what stops listening. */
export type WhenIdle = (listener: () => void) => () => void;

/** The process's own: Node's 'beforeExit', which fires when the event loop has emptied. */
export const processIdle: WhenIdle = (listener) => {
  process.once("beforeExit", listener);
  return () => process.off("beforeExit", listener);
};

export const stalledMessage =
  "the command stopped waiting: what it awaited can no longer finish (nothing was left running to finish it)";

/** `work`'s value, or a rejection when the event loop empties before `work` settles. */
export async function unlessStalled<T>(work: Promise<T>, whenIdle: WhenIdle): Promise<T> {
  let stop = (): void => undefined;
  const stalled = new Promise<never>((_, reject) => {
    stop = whenIdle(() => reject(new Error(stalledMessage)));
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    stop();
  }
}
