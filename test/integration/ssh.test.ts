// The ssh2 client against a real OpenSSH server in a host container: exec, exit codes, host-key
// pinning and refusal of a changed key, and a local port forward into the container.
import { readFile } from "node:fs/promises";
import { connect as connectTcp, createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  connectSsh,
  HostKeyMismatchError,
  RemoteCommandError,
  SshConnectError,
  type SshConnection,
} from "../../src/ssh/index.js";
import { startHosts, type TestHost, type TestHostFleet } from "../harness/hosts.js";

let fleet: TestHostFleet;
let host: TestHost;
const connections: SshConnection[] = [];

async function connect(): Promise<SshConnection> {
  const connection = await connectSsh({
    host: host.ip,
    privateKeyPath: fleet.privateKeyPath,
    knownHostsPath: fleet.knownHostsPath,
    timeoutMs: 20_000,
  });
  connections.push(connection);
  return connection;
}

beforeAll(async () => {
  fleet = await startHosts({ count: 1 });
  host = fleet.hosts[0]!;
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await fleet?.stop();
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(async () => {
    process.stderr.write(`${await fleet.collectLogs()}\n`);
  });
});

describe("ssh client against a real sshd", () => {
  it("runs commands and reports output and exit codes", async () => {
    const ssh = await connect();
    const hostname = await ssh.exec("hostname");
    expect(hostname).toEqual({ stdout: `${host.name}\n`, stderr: "", status: 0 });

    const failing = await ssh.exec("echo out; echo oops >&2; exit 3");
    expect(failing).toEqual({ stdout: "out\n", stderr: "oops\n", status: 3 });

    const checked = ssh.exec("echo oops >&2; exit 3", { check: true });
    await expect(checked).rejects.toBeInstanceOf(RemoteCommandError);
    await expect(checked).rejects.toMatchObject({
      status: 3,
      stderr: "oops\n",
      message: expect.stringMatching(/exited with 3:\noops/),
    });

    expect((await ssh.exec("cat", { stdin: "fed through stdin" })).stdout).toBe(
      "fed through stdin",
    );
  });

  it("pins the host key on first contact and accepts it afterwards", async () => {
    const pinned = (await readFile(fleet.knownHostsPath, "utf8")).trim().split("\n");
    expect(pinned).toHaveLength(1);
    expect(pinned[0]).toMatch(
      new RegExp(`^${host.ip.replace(/\./g, "\\.")} ssh-ed25519 [A-Za-z0-9+/=]+$`),
    );
    // The pin is the key the server really has.
    const serverKey = await fleet.exec(host, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
    expect(pinned[0]!.split(" ")[2]).toBe(serverKey.split(" ")[1]);

    const again = await connect();
    expect((await again.exec("true")).status).toBe(0);
    expect((await readFile(fleet.knownHostsPath, "utf8")).trim().split("\n")).toHaveLength(1);
  });

  it("refuses a key that is not authorized", async () => {
    const strangerKey = join(fleet.workDir, "stranger");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", strangerKey], {
      stdin: "ignore",
    });
    const attempt = connectSsh({
      host: host.ip,
      privateKeyPath: strangerKey,
      knownHostsPath: fleet.knownHostsPath,
      timeoutMs: 20_000,
    });
    await expect(attempt).rejects.toBeInstanceOf(SshConnectError);
    await expect(attempt).rejects.toMatchObject({
      hint: expect.stringContaining("did not accept the key"),
    });
  });

  it("forwards a 127.0.0.1 port to a server listening only inside the host", async () => {
    const ssh = await connect();
    const token = `elm-infra-${Date.now()}`;
    await ssh.exec(`mkdir -p /srv/www && echo ${token} > /srv/www/token.txt`, { check: true });
    await ssh.exec(
      "systemd-run --unit=elm-infra-test-http python3 -m http.server 8080 --bind 127.0.0.1 --directory /srv/www",
      { check: true },
    );

    const forward = await ssh.forwardLocalPort("127.0.0.1", 8080);
    expect(forward.localPort).toBeGreaterThan(0);
    let body = "";
    for (let attempt = 0; attempt < 40 && body === ""; attempt++) {
      try {
        const response = await fetch(`http://127.0.0.1:${forward.localPort}/token.txt`, {
          signal: AbortSignal.timeout(3_000),
        });
        body = response.ok ? await response.text() : "";
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    expect(body).toBe(`${token}\n`);

    await forward.close();
    await expect(
      fetch(`http://127.0.0.1:${forward.localPort}/token.txt`, {
        signal: AbortSignal.timeout(3_000),
      }),
    ).rejects.toThrow();
  });

  it("a host that goes away during the handshake (its banner sent, then the connection closed): the connect fails at once, saying so", async () => {
    // What a host going down does to a connection it had accepted (a reboot stopping sshd, a
    // container's published port losing its backend): the server's banner came, the rest never
    // will. Through a relay on 127.0.0.1 that passes the real sshd's banner and then closes both
    // sides as soon as the client answers it.
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const server = connectTcp(22, host.ip);
      sockets.add(client).add(server);
      server.once("data", (banner) => {
        client.write(banner);
        client.once("data", () => {
          client.destroy();
          server.destroy();
        });
      });
      client.on("error", () => undefined);
      server.on("error", () => undefined);
    });
    await new Promise<void>((listening) => relay.listen(0, "127.0.0.1", listening));
    const port = (relay.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const attempt = connectSsh({
        host: "127.0.0.1",
        port,
        privateKeyPath: fleet.privateKeyPath,
        knownHostsPath: fleet.knownHostsPath,
        timeoutMs: 20_000,
      });
      // Before the fix, nothing settled this promise and no timer was left to: the CLI's event
      // loop emptied and `reboot` exited 0 without a result.
      await expect(attempt).rejects.toBeInstanceOf(SshConnectError);
      await expect(attempt).rejects.toMatchObject({
        message: expect.stringContaining("closed before the handshake finished"),
        hint: expect.stringContaining(`127.0.0.1:${port}`),
      });
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((closed) => relay.close(closed));
    }
  });

  it("refuses the host after its host key changed, and keeps the old pin", async () => {
    const before = await readFile(fleet.knownHostsPath, "utf8");
    await fleet.exec(host, [
      "sh",
      "-c",
      "rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -A && systemctl restart ssh",
    ]);

    const attempt = connectSsh({
      host: host.ip,
      privateKeyPath: fleet.privateKeyPath,
      knownHostsPath: fleet.knownHostsPath,
      timeoutMs: 20_000,
    });
    await expect(attempt).rejects.toBeInstanceOf(HostKeyMismatchError);
    await expect(attempt).rejects.toMatchObject({
      host: host.ip,
      message: expect.stringContaining(`refused ${host.ip}: its host key changed`),
      hint: expect.stringContaining("ssh-keygen -R"),
    });
    expect(await readFile(fleet.knownHostsPath, "utf8")).toBe(before);
  });
});
