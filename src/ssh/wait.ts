/** Waiting for a fresh machine's sshd: bounded, one deadline per host, the host named on failure. */
import { connect } from "node:net";
import { done, notYet, waitFor } from "../wait.js";

export interface WaitForSshOptions {
  /** Name the user knows the host by, for messages. */
  name: string;
  host: string;
  port: number;
  /** Give up after this long; default 3 minutes. */
  deadlineMs?: number;
  /** Pause between attempts; default 1 s. */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves once sshd at host:port sends its `SSH-2.0-...` banner; throws a WaitTimeoutError
 * naming the host after the deadline, the abort reason on Ctrl-C.
 */
export async function waitForSsh(options: WaitForSshOptions): Promise<{ attempts: number }> {
  const timeoutMs = options.deadlineMs ?? 180_000;
  const attempts = await waitFor(
    {
      what: `${options.name} to answer over SSH`,
      timeoutMs,
      intervalMs: options.intervalMs ?? 1_000,
      ...(options.signal ? { signal: options.signal } : {}),
      message: (t) =>
        `${options.name} (${options.host}:${options.port}) did not answer over SSH within ${t.seconds}s (${t.attempts} attempts; last: ${t.last})`,
      hint: `check that ${options.name} booted (its console or \`docker logs ${options.name}\` on the local target); run bring-up again to continue`,
    },
    async (attempt, signal) => {
      const result = await readBanner(options.host, options.port, 5_000, signal);
      return result.ok ? done(attempt) : notYet(result.reason);
    },
  );
  return { attempts };
}

function readBanner(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    // Aborted: the socket goes at once (nothing keeps the process alive after Ctrl-C).
    const socket = connect({ host, port, ...(signal ? { signal } : {}) });
    let data = "";
    const done = (r: { ok: true } | { ok: false; reason: string }) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, reason: "timed out" }));
    socket.on("error", (e) => done({ ok: false, reason: e.message }));
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      if (data.includes("\n") || data.length > 255)
        done(data.startsWith("SSH-") ? { ok: true } : { ok: false, reason: "not an SSH server" });
    });
    socket.on("end", () => done({ ok: false, reason: "closed before the SSH banner" }));
  });
}
