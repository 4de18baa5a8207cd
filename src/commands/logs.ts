import { withCluster } from "../cluster/connect.js";
import { LineSplitter, parseSince, SinceFilter, type RunningAllocation } from "../plan/logs.js";
import { requireService, runningTaskOf } from "../tasks/allocations.js";
import type { CommandContext } from "../tasks/context.js";

export type LogStream = "stdout" | "stderr";

export interface LogsOptions {
  follow: boolean;
  /** A duration (10m): only lines that state a time at or after now minus it. */
  since?: string;
  /** An allocation ID or its prefix: that allocation only. */
  alloc?: string;
  streams: LogStream[];
}

export interface LogsResult {
  service: string;
  task: string;
  allocations: RunningAllocation[];
  streams: LogStream[];
  /** Lines shown. */
  lines: number;
  followed: boolean;
}

/** How much of each log comes before what is written next: its last 16 KiB. */
export const logTailBytes = 16 * 1024;

/**
 * `logs <service>`: the main task's log in every running allocation of the service (or the one
 * `--alloc` names), stdout and stderr, each line as an event naming its allocation and node, in
 * the order they arrive. Each log's last 16 KiB first; with `follow`, what the tasks write next,
 * until Ctrl-C (exit 130) or until every allocation stopped.
 */
export async function logs(
  ctx: CommandContext,
  service: string,
  options: LogsOptions,
): Promise<LogsResult> {
  const from = options.since !== undefined ? Date.now() - parseSince(options.since) : undefined;
  const config = await ctx.loadConfig();
  requireService(config, service);
  return withCluster(config, { signal: ctx.signal }, async ({ nomad }) => {
    const { task, allocations } = await runningTaskOf(nomad, service, options.alloc);
    ctx.output.info(
      `${options.follow ? "following" : "the end of"} ${service}'s ${task} ${options.streams.join(" and ")} in ${allocations.map((a) => `${a.id.slice(0, 8)} on ${a.node}`).join(", ")}${options.follow ? " (Ctrl-C to stop)" : ""}`,
    );
    let lines = 0;
    // One log that fails stops the others: the command ends with its error, not half of it.
    const failed = new AbortController();
    const signal = AbortSignal.any([ctx.signal, failed.signal]);
    const readLog = async (allocation: RunningAllocation, stream: LogStream) => {
      const splitter = new LineSplitter();
      const since = from === undefined ? undefined : new SinceFilter(from);
      const show = (text: string) => {
        if (since && !since.keep(text)) return;
        if (since && !since.sawTime && since.untimed === 1)
          ctx.output.warn(
            `${allocation.id.slice(0, 8)} ${stream}: its lines state no time, so --since cannot place them: they are shown`,
          );
        lines += 1;
        ctx.output.emit({
          type: "line",
          alloc: allocation.id,
          node: allocation.node,
          stream,
          text,
        });
      };
      try {
        await nomad.streamTaskLog(
          allocation.id,
          task,
          stream,
          { tailBytes: logTailBytes, follow: options.follow, signal },
          (chunk) => splitter.push(chunk).forEach(show),
        );
      } catch (error) {
        failed.abort();
        throw error;
      }
      splitter.end().forEach(show);
      if (options.follow && !signal.aborted)
        ctx.output.info(
          `${allocation.id.slice(0, 8)} on ${allocation.node}: its ${stream} ended (the allocation stopped)`,
        );
    };
    await Promise.all(
      allocations.flatMap((a) => options.streams.map((stream) => readLog(a, stream))),
    );
    return {
      service,
      task,
      allocations,
      streams: options.streams,
      lines,
      followed: options.follow,
    };
  });
}
