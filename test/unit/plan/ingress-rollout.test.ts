import { describe, expect, it } from "vitest";
import {
  planIngressRollout,
  stepJob,
  traefikLag,
  versionsByWorker,
  prevailingVersion,
  workerAllocState,
  type AllocSummary,
  type JobWithGroups,
} from "../../../src/plan/ingress.js";
import { readFile } from "node:fs/promises";
import {
  ingressGraceSeconds,
  ingressJobVars,
  loadBalancerHealthChecks,
  loadBalancerTakesBackMs,
} from "../../../src/plan/job-vars.js";

const group = (name: string, version: string) => ({ Name: name, Meta: { version } });
const job = (...groups: Array<[string, string]>): JobWithGroups => ({
  ID: "ingress",
  TaskGroups: groups.map(([n, v]) => group(n, v)),
});

describe("ingress rollout, node by node", () => {
  it("without a job every worker is added at once; with one, new workers join and the rest roll in order", () => {
    expect(planIngressRollout(undefined, ["w1", "w2"])).toEqual({
      add: ["w1", "w2"],
      remove: [],
      roll: [],
    });
    expect(planIngressRollout(job(["w1", "1"], ["w3", "1"]), ["w1", "w2"])).toEqual({
      add: ["w2"],
      remove: ["w3"],
      roll: ["w1"],
    });
  });

  it("a step takes only the named worker's group from the desired job, keeps the others as they run", () => {
    const current = job(["w1", "1"], ["w2", "1"], ["gone", "1"]);
    const desired = job(["w1", "2"], ["w2", "2"], ["w3", "2"]);
    const step = stepJob(current, desired, ["w1"], ["w1", "w2", "w3"]);
    expect(versionsByWorker(step)).toEqual({ w1: "2", w2: "1", w3: "2" });
    expect(stepJob(undefined, desired, [], ["w1"])).toBe(desired);
  });

  it("the version the ingress runs, its workers differing after an upgrade stopped halfway: most workers', the pinned one on a tie, else the newest tied", () => {
    expect(prevailingVersion(["3.6.12", "3.6.13", "3.6.12"], "3.6.13")).toBe("3.6.12");
    expect(prevailingVersion(["3.6.13", "3.6.12"], "3.6.12")).toBe("3.6.12");
    expect(prevailingVersion(["3.6.12", "3.6.13"], "3.6.13")).toBe("3.6.13");
    expect(prevailingVersion(["3.6.12", "3.6.13"], "3.6.14")).toBe("3.6.13");
    expect(prevailingVersion(["3.6.9", "3.6.10"], "3.6.14")).toBe("3.6.10");
    expect(prevailingVersion(["3.6.12-e2e-1", "3.6.12-e2e-1", "3.6.13"], "3.6.12")).toBe(
      "3.6.12-e2e-1",
    );
    // A group without a version (Meta lost) counts for nothing.
    expect(prevailingVersion(["?", "?", "3.6.12"], "3.6.13")).toBe("3.6.12");
    expect(prevailingVersion([], "3.6.13")).toBeUndefined();
    expect(prevailingVersion(["?"], "3.6.13")).toBeUndefined();
  });

  it("groups are named after the workers and carry the version without its 'v'", () => {
    const vars = ingressJobVars([{ name: "t-worker-1", version: "v3.6.12" }]);
    expect(vars.workers).toEqual([
      { name: "t-worker-1", version: "3.6.12", image: "traefik:v3.6.12" },
    ]);
    expect(vars.apiAddress).toBe("127.0.0.1:8081");
    expect(vars.canaryAddress).toBe("127.0.0.1:8083");
    expect(vars.pingPort).toBe(8082);
  });

  it("a stopping Traefik keeps accepting until its load balancer has taken it out: 10 s behind DigitalOcean's, 4 s behind the local one", () => {
    const grace = (provider: "digitalocean" | "local") =>
      ingressJobVars([{ name: "w1", version: "3.6.12" }], {
        https: true,
        target: { provider, registry: "registry.digitalocean.com/elm" },
      }).graceTimeout;
    expect(grace("digitalocean")).toBe("10s");
    expect(grace("local")).toBe("4s");
    expect(ingressJobVars([{ name: "w1", version: "3.6.12" }]).graceTimeout).toBe("10s");
    expect(ingressGraceSeconds("local")).toBeLessThan(ingressGraceSeconds("digitalocean"));
  });

  it("the load balancers' health checks are the ones the grace and the wait are computed from", async () => {
    const tf = await readFile(
      new URL("../../../iac/digitalocean/main.tf", import.meta.url),
      "utf8",
    );
    const number = (key: string) => Number(new RegExp(`${key}\\s*=\\s*(\\d+)`).exec(tf)?.[1]);
    expect({
      intervalSeconds: number("check_interval_seconds"),
      downIntervalSeconds: number("check_interval_seconds"),
      unhealthyThreshold: number("unhealthy_threshold"),
      healthyThreshold: number("healthy_threshold"),
    }).toEqual(loadBalancerHealthChecks.digitalocean);
    const haproxy = await readFile(
      new URL("../../../iac/local/haproxy.cfg.tftpl", import.meta.url),
      "utf8",
    );
    const server = /^\s*default-server .*$/m.exec(haproxy)?.[0] ?? "";
    const setting = (key: string) => Number(new RegExp(` ${key} (\\d+)s? `).exec(server)?.[1]);
    expect({
      intervalSeconds: setting("inter"),
      downIntervalSeconds: setting("downinter"),
      unhealthyThreshold: setting("fall"),
      healthyThreshold: setting("rise"),
    }).toEqual(loadBalancerHealthChecks.local);
    expect(loadBalancerTakesBackMs("digitalocean")).toBe(7000);
    expect(loadBalancerTakesBackMs("local")).toBe(5000);
  });
});

const alloc = (over: Partial<AllocSummary>): AllocSummary => ({
  TaskGroup: "w1",
  JobVersion: 3,
  ClientStatus: "running",
  DesiredStatus: "run",
  TaskStates: { traefik: { State: "running", Failed: false } },
  ...over,
});

describe("workerAllocState", () => {
  it.each<[string, AllocSummary[], ReturnType<typeof workerAllocState>]>([
    ["running at the new version", [alloc({})], { kind: "running" }],
    [
      "only the old version runs",
      [alloc({ JobVersion: 2 })],
      { kind: "waiting", detail: "no allocation placed yet" },
    ],
    [
      "another worker's group",
      [alloc({ TaskGroup: "w2" })],
      { kind: "waiting", detail: "no allocation placed yet" },
    ],
    [
      "pending",
      [
        alloc({
          ClientStatus: "pending",
          TaskStates: { traefik: { State: "pending", Failed: false } },
        }),
      ],
      { kind: "waiting", detail: "allocation pending" },
    ],
    [
      "failed, with the task's last event",
      [
        alloc({
          ClientStatus: "failed",
          TaskStates: {
            traefik: {
              State: "dead",
              Failed: true,
              Events: [{ Type: "Driver Failure", DisplayMessage: "image not found" }],
            },
          },
        }),
      ],
      { kind: "failed", reason: "allocation failed: Driver Failure: image not found" },
    ],
    [
      "a lost allocation Nomad stopped (the worker's dead predecessor of the same name) beside a pending one",
      [
        alloc({ ClientStatus: "lost", DesiredStatus: "stop" }),
        alloc({
          ClientStatus: "pending",
          TaskStates: { traefik: { State: "pending", Failed: false } },
        }),
      ],
      { kind: "waiting", detail: "allocation pending" },
    ],
  ])("%s", (_name, allocs, state) => {
    expect(workerAllocState(allocs, "w1", 3)).toEqual(state);
  });
});

describe("traefikLag: where a worker's Traefik routes differ from Consul's catalog", () => {
  const consul = { "elm-lang-org": ["http://10.0.0.1:2001", "http://10.0.0.2:2002"] };
  it("nothing when every worker routes to exactly the passing instances", () => {
    expect(
      traefikLag(consul, {
        "w-1": { "elm-lang-org": ["http://10.0.0.2:2002", "http://10.0.0.1:2001"] },
        "w-2": { "elm-lang-org": ["http://10.0.0.1:2001", "http://10.0.0.2:2002"] },
      }),
    ).toEqual([]);
  });
  it("names the worker whose Traefik still routes to an instance that left and lacks the new one", () => {
    expect(
      traefikLag(
        { "elm-lang-org": ["http://10.0.0.1:2001", "http://10.0.0.2:2003"] },
        {
          "w-1": { "elm-lang-org": ["http://10.0.0.1:2001", "http://10.0.0.1:2002"] },
          "w-2": { "elm-lang-org": ["http://10.0.0.1:2001", "http://10.0.0.2:2003"] },
        },
      ),
    ).toEqual([
      "w-1's Traefik: elm-lang-org lacks http://10.0.0.2:2003 and still routes to http://10.0.0.1:2002",
    ]);
  });
  it("a service Traefik does not know yet lacks every instance; one Consul has none of is caught up when Traefik has none", () => {
    expect(traefikLag(consul, { "w-1": {} })).toEqual([
      "w-1's Traefik: elm-lang-org lacks http://10.0.0.1:2001, http://10.0.0.2:2002",
    ]);
    expect(traefikLag({ "package-elm-lang-org": [] }, { "w-1": {} })).toEqual([]);
  });
});
