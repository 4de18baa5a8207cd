import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { InterruptedError } from "../../../src/errors.js";
import { waitForSsh } from "../../../src/ssh/wait.js";
import { WaitTimeoutError } from "../../../src/wait.js";

/** A loopback port that accepts and never says a word: an sshd that hangs. */
async function silentPort(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  servers = [];
});

describe("waitForSsh", () => {
  it("Ctrl-C during a 10-minute wait on a port that never answers: interrupted within a second, the socket closed", async () => {
    const { server, port, sockets } = await silentPort();
    servers.push(server);
    const controller = new AbortController();
    const wait = waitForSsh({
      name: "w1",
      host: "127.0.0.1",
      port,
      deadlineMs: 600_000,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    while (sockets.length === 0) await new Promise((r) => setImmediate(r));
    const began = Date.now();
    controller.abort(new InterruptedError());
    expect(await wait).toBeInstanceOf(InterruptedError);
    expect(Date.now() - began).toBeLessThan(1_000);
    await new Promise((r) => (sockets[0]!.destroyed ? r(undefined) : sockets[0]!.once("close", r)));
    server.close();
  });

  it("a port that refuses: a timeout error naming the host, its attempts and the last reason", async () => {
    const { server, port } = await silentPort();
    await new Promise((r) => server.close(r));
    const error = await waitForSsh({
      name: "w2",
      host: "127.0.0.1",
      port,
      deadlineMs: 300,
      intervalMs: 50,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^w2 \\(127\\.0\\.0\\.1:${port}\\) did not answer over SSH within 0s \\(\\d+ attempts; last: connect ECONNREFUSED`,
      ),
    );
  });
});
