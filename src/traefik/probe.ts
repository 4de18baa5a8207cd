import { Agent, request } from "undici";
import { UsageError } from "../errors.js";
import { certificateFailure, classifyTransportError } from "../http.js";
import { sleepUnlessAborted } from "../wait.js";
import { workerHeader } from "./canary.js";
import { ProbeTally, type ProbeReport } from "./probe-report.js";

export {
  failedRequests,
  formatProbeLine,
  formatProbeReport,
  ProbeTally,
  type ProbeAnswer,
  type ProbeReport,
} from "./probe-report.js";

export { workerHeader };
export const versionHeader = "X-Elm-Version";

export interface ProbeOptions {
  /** The load balancer's base URL, e.g. http://127.0.0.1:18080 or https://127.0.0.1:18443. */
  url: string;
  /** Sent as the Host header (and, over HTTPS, as SNI): the site the load balancer and Traefik route. */
  hostname: string;
  /**
   * Over HTTPS: the CA certificates (PEM) the answers' certificates are verified against, in
   * place of the system's roots (the target's trustedCa, e.g. Pebble's root on local).
   */
  ca?: string;
  path?: string;
  /** Requests a second, sent steadily whatever the answers take: default 20, at least 10. */
  ratePerSecond?: number;
  /** How long to run unless stopped first: default 60, at most 3600. */
  seconds?: number;
  /** Each request's own deadline: a connection that hangs longer is a connection error. */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called every `progressEveryMs` with the report so far. */
  onProgress?: (report: ProbeReport) => void;
  progressEveryMs?: number;
}

export interface ProbeHandle {
  /** Stops sending, waits for the requests in flight (each within its deadline), reports. */
  stop(): Promise<ProbeReport>;
  /** Resolves with the report when the probe ends by itself (its seconds) or is stopped. */
  readonly done: Promise<ProbeReport>;
}

export const probeLimits = {
  minRate: 10,
  maxRate: 200,
  defaultRate: 20,
  defaultSeconds: 60,
  maxSeconds: 3600,
  defaultRequestTimeoutMs: 5000,
} as const;

/** Pure: the options with defaults, refused when out of bounds. */
export function probeSettings(o: Pick<ProbeOptions, "ratePerSecond" | "seconds">): {
  ratePerSecond: number;
  seconds: number;
  count: number;
} {
  const ratePerSecond = o.ratePerSecond ?? probeLimits.defaultRate;
  const seconds = o.seconds ?? probeLimits.defaultSeconds;
  if (!(ratePerSecond >= probeLimits.minRate && ratePerSecond <= probeLimits.maxRate))
    throw new UsageError(
      `the probe's rate must be between ${probeLimits.minRate} and ${probeLimits.maxRate} requests a second, not ${ratePerSecond}`,
    );
  if (!(seconds > 0 && seconds <= probeLimits.maxSeconds))
    throw new UsageError(
      `the probe runs for more than 0 and at most ${probeLimits.maxSeconds} seconds, not ${seconds}`,
    );
  return { ratePerSecond, seconds, count: Math.ceil(ratePerSecond * seconds) };
}

const firstHeader = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);

/**
 * Starts a steady stream of GETs through the load balancer with the site's Host header: one
 * every 1/rate seconds whether or not earlier ones answered (a hung connection does not slow
 * the stream; the gap without a good answer keeps growing), until `seconds` or stop().
 */
export function startProbe(o: ProbeOptions): ProbeHandle {
  const { ratePerSecond, count } = probeSettings(o);
  const timeoutMs = o.requestTimeoutMs ?? probeLimits.defaultRequestTimeoutMs;
  const target = new URL(o.path ?? "/", o.url).toString();
  // Over HTTPS the hostname is the SNI, and the certificate must be for it, from a trusted CA.
  const agent = new Agent({
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    ...(target.startsWith("https:")
      ? { connect: { servername: o.hostname, ...(o.ca !== undefined ? { ca: o.ca } : {}) } }
      : {}),
  });
  const startedAt = Date.now();
  const tally = new ProbeTally(o.hostname, startedAt);
  const stopping = new AbortController();
  // stop() or the caller's signal (Ctrl-C): the pacing ends, the requests in flight finish.
  const stopped = o.signal ? AbortSignal.any([stopping.signal, o.signal]) : stopping.signal;
  const inFlight = new Set<Promise<void>>();

  const one = async (): Promise<void> => {
    tally.recordSent();
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(target, {
        method: "GET",
        headers: { host: o.hostname },
        // A connection of its own, as a new visitor's: the load balancer passes HTTPS through
        // per connection, so a kept-alive one would stay on one worker and hide the others.
        reset: true,
        dispatcher: agent,
        signal: deadline,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      // The whole body: an answer cut off halfway is not a good answer.
      await res.body.arrayBuffer();
      const version = firstHeader(res.headers[versionHeader.toLowerCase()]);
      const worker = firstHeader(res.headers[workerHeader.toLowerCase()]);
      tally.record({
        at: Date.now(),
        status: res.statusCode,
        ...(version !== undefined ? { version } : {}),
        ...(worker !== undefined ? { worker } : {}),
      });
    } catch (error) {
      const failure = deadline.aborted ? "timeout" : classifyTransportError(error);
      const refused = deadline.aborted ? undefined : certificateFailure(error);
      tally.record({
        at: Date.now(),
        error: refused
          ? `certificate does not verify: ${refused}`
          : failure === "timeout"
            ? `no answer within ${timeoutMs} ms`
            : failure === "tls-handshake"
              ? "TLS handshake failed"
              : failure,
      });
    }
  };

  const loop = async (): Promise<void> => {
    const everyMs = 1000 / ratePerSecond;
    const progressEveryMs = o.progressEveryMs ?? 5000;
    let nextProgress = startedAt + progressEveryMs;
    for (let i = 0; i < count; i++) {
      const due = startedAt + i * everyMs;
      const wait = due - Date.now();
      if (wait > 0 && (await sleepUnlessAborted(wait, stopped)) === "aborted") break;
      if (stopped.aborted) break;
      const p = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (o.onProgress && Date.now() >= nextProgress) {
        o.onProgress(tally.report(Date.now()));
        nextProgress += progressEveryMs;
      }
    }
    await Promise.all([...inFlight]);
    await agent.close().catch(() => undefined);
  };

  const done = loop().then(() => tally.report(Date.now()));
  return {
    done,
    stop() {
      stopping.abort();
      return done;
    },
  };
}

/** Runs the probe for its seconds (or until the signal) and reports. */
export function runProbe(o: ProbeOptions): Promise<ProbeReport> {
  return startProbe(o).done;
}
