/**
 * A loopback HTTP server that stands where Nomad, Consul or Traefik should be and answers
 * something else: not a fake of any of them, but the wrong server a user's address may reach.
 * Every request gets the answer set last; `huge` streams until the client hangs up (bounded).
 */
import { createServer, type Server } from "node:http";

export interface HostileAnswer {
  status?: number;
  contentType?: string;
  body?: string;
  /** Stream this prefix then filler without end (up to `hugeLimitBytes`). */
  huge?: boolean;
}

/** How much a huge answer streams at most: far more than any client should read. */
export const hugeLimitBytes = 1024 * 1024 * 1024;

export interface HostileServer {
  url: string;
  answer(a: HostileAnswer): void;
  /** `METHOD path` of every request received since the last `answer`. */
  requests: string[];
  /** Bytes written by the last huge answer before the client hung up. */
  hugeBytesWritten(): number;
  close(): Promise<void>;
}

export async function startHostileServer(): Promise<HostileServer> {
  let current: HostileAnswer = { body: "{}" };
  let written = 0;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url?.split("?")[0]}`);
    req.resume();
    res.writeHead(current.status ?? 200, {
      "content-type": current.contentType ?? "application/json",
    });
    if (!current.huge) {
      res.end(current.body ?? "");
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, "x");
    written = 0;
    res.write(current.body ?? "");
    const pump = () => {
      while (written < hugeLimitBytes && !res.destroyed) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("close", () => res.destroy());
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    answer(a) {
      current = a;
      requests.length = 0;
    },
    requests,
    hugeBytesWritten: () => written,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The answers a wrong server gives, with what a client must say of each (a part of it). */
export const hostileAnswers: Array<[name: string, answer: HostileAnswer, problem: RegExp]> = [
  ["an empty object", { body: "{}" }, /: expected \w+, received (undefined|object)/],
  ["an array where an object is expected", { body: "[]" }, /: expected \w+, received \w+/],
  [
    "another service's JSON (Traefik's overview)",
    {
      body: JSON.stringify({
        http: { routers: { total: 3, warnings: 0, errors: 0 } },
        features: { tracing: "", metrics: "", accessLog: false },
        providers: ["ConsulCatalog"],
      }),
    },
    /: expected \w+, received \w+/,
  ],
  ["bad JSON", { body: '{"ID": "web", "Versions": [' }, /: not JSON \(it begins "\{\\"ID\\": /],
  [
    "an HTML page",
    { contentType: "text/html", body: "<!doctype html><html><body>It works!</body></html>" },
    /: not JSON \(it begins "<!doctype html><html>/,
  ],
  ["an empty answer", { body: "" }, /: an empty answer$/],
  ["a huge body", { huge: true, body: '{"ID": "' }, /: more than 8 MB \(not read further\)$/],
];

/** A server's error text with a window-title OSC and a colour: neither may reach a terminal. */
export const controlText = "\u001b]0;pwned\u0007\u001b[31mred\u001b[0m\u009b2J\r\ntail";
