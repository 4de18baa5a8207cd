/** Waiting for a fresh machine's sshd: bounded, one deadline per host, the host named on failure. */
import { connect } from "node:net";
import { SshConnectError } from "./errors.js";

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

/** Resolves once sshd at host:port sends its `SSH-2.0-...` banner; throws after the deadline. */
export async function waitForSsh(options: WaitForSshOptions): Promise<{ attempts: number }> {
  const deadline = Date.now() + (options.deadlineMs ?? 180_000);
  let attempts = 0;
  let last = "";
  while (Date.now() < deadline && !options.signal?.aborted) {
    attempts += 1;
    const result = await readBanner(options.host, options.port, 5_000);
    if (result.ok) return { attempts };
    last = result.reason;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 1_000));
  }
  const seconds = Math.round((options.deadlineMs ?? 180_000) / 1000);
  throw new SshConnectError(
    `${options.name} (${options.host}:${options.port}) did not answer over SSH within ${seconds}s (${attempts} attempts; last: ${last || "interrupted"})`,
    `check that ${options.name} booted (its console or \`docker logs ${options.name}\` on the local target); run bring-up again to continue`,
  );
}

function readBanner(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
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
