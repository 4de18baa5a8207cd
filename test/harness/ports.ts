import { createServer } from "node:net";
import { createSocket } from "node:dgram";

/**
 * Free loopback ports for agents under test. A port is taken by binding port 0 on 127.0.0.1 and
 * accepted only when the same number is also free for UDP (Consul's serf and DNS use both).
 * All requested ports are held open together so one call never returns the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: Array<() => Promise<void>> = [];
  const ports: number[] = [];
  try {
    for (let attempt = 0; ports.length < count && attempt < count * 20; attempt++) {
      const tcp = await bindTcp();
      const udp = await bindUdp(tcp.port);
      held.push(tcp.close);
      if (udp) {
        held.push(udp);
        ports.push(tcp.port);
      }
    }
  } finally {
    await Promise.all(held.map((close) => close()));
  }
  if (ports.length < count) throw new Error(`could not find ${count} free loopback ports`);
  return ports;
}

function bindTcp(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string")
        return reject(new Error("no port bound"));
      resolve({
        port: address.port,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

function bindUdp(port: number): Promise<(() => Promise<void>) | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.unref();
    socket.once("error", () => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      resolve(undefined);
    });
    socket.bind({ address: "127.0.0.1", port, exclusive: true }, () =>
      resolve(() => new Promise((done) => socket.close(() => done()))),
    );
  });
}
