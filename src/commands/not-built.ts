import { NotImplementedError } from "../errors.js";
import type { CommandContext } from "../tasks/context.js";

/** Commands whose capability is not built yet: validate the input, then say so. */
export async function notBuiltYet(ctx: CommandContext, what: string): Promise<never> {
  await ctx.loadConfig();
  throw new NotImplementedError(what);
}
