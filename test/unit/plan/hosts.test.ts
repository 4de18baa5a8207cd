import { describe, expect, it } from "vitest";
import { OperationError, UsageError } from "../../../src/errors.js";
import {
  localAddress,
  localNetwork,
  parseHostName,
  planHosts,
  type HostPlanInput,
} from "../../../src/plan/hosts.js";

const names = (plan: { hosts: Array<{ name: string }> }) => plan.hosts.map((h) => h.name);

describe("planHosts", () => {
  it.each<[string, Omit<HostPlanInput, "target">, Record<string, string[]>]>([
    [
      "first bring-up: every host is new, numbered from 1",
      { managers: 3, workers: 2, existing: [] },
      {
        hosts: ["t-manager-1", "t-manager-2", "t-manager-3", "t-worker-1", "t-worker-2"],
        created: ["t-manager-1", "t-manager-2", "t-manager-3", "t-worker-1", "t-worker-2"],
        kept: [],
        removed: [],
      },
    ],
    [
      "nothing to change",
      { managers: 1, workers: 2, existing: ["t-worker-2", "t-manager-1", "t-worker-1"] },
      {
        hosts: ["t-manager-1", "t-worker-1", "t-worker-2"],
        created: [],
        kept: ["t-manager-1", "t-worker-1", "t-worker-2"],
        removed: [],
      },
    ],
    [
      "one more worker takes the next number",
      { managers: 1, workers: 3, existing: ["t-manager-1", "t-worker-1", "t-worker-2"] },
      {
        hosts: ["t-manager-1", "t-worker-1", "t-worker-2", "t-worker-3"],
        created: ["t-worker-3"],
        kept: ["t-manager-1", "t-worker-1", "t-worker-2"],
        removed: [],
      },
    ],
    [
      "a new host fills the lowest free number",
      { managers: 1, workers: 3, existing: ["t-manager-1", "t-worker-1", "t-worker-3"] },
      {
        hosts: ["t-manager-1", "t-worker-1", "t-worker-2", "t-worker-3"],
        created: ["t-worker-2"],
        kept: ["t-manager-1", "t-worker-1", "t-worker-3"],
        removed: [],
      },
    ],
    [
      "fewer workers: the highest number goes",
      { managers: 1, workers: 1, existing: ["t-manager-1", "t-worker-1", "t-worker-2"] },
      {
        hosts: ["t-manager-1", "t-worker-1"],
        created: [],
        kept: ["t-manager-1", "t-worker-1"],
        removed: ["t-worker-2"],
      },
    ],
    [
      "fewer workers, told which: that one goes and the others keep their numbers",
      {
        managers: 1,
        workers: 2,
        existing: ["t-manager-1", "t-worker-1", "t-worker-2", "t-worker-3"],
        remove: ["t-worker-1"],
      },
      {
        hosts: ["t-manager-1", "t-worker-2", "t-worker-3"],
        created: [],
        kept: ["t-manager-1", "t-worker-2", "t-worker-3"],
        removed: ["t-worker-1"],
      },
    ],
    [
      "told one of two removals: the named one, then the highest",
      {
        managers: 1,
        workers: 1,
        existing: ["t-manager-1", "t-worker-1", "t-worker-2", "t-worker-3"],
        remove: ["t-worker-1"],
      },
      {
        hosts: ["t-manager-1", "t-worker-2"],
        created: [],
        kept: ["t-manager-1", "t-worker-2"],
        removed: ["t-worker-1", "t-worker-3"],
      },
    ],
    [
      "managers and workers change in one plan",
      { managers: 3, workers: 1, existing: ["t-manager-1", "t-worker-1", "t-worker-2"] },
      {
        hosts: ["t-manager-1", "t-manager-2", "t-manager-3", "t-worker-1"],
        created: ["t-manager-2", "t-manager-3"],
        kept: ["t-manager-1", "t-worker-1"],
        removed: ["t-worker-2"],
      },
    ],
    [
      "a gap left by an earlier removal is filled before higher numbers",
      { managers: 1, workers: 4, existing: ["t-manager-1", "t-worker-2", "t-worker-5"] },
      {
        hosts: ["t-manager-1", "t-worker-1", "t-worker-2", "t-worker-3", "t-worker-5"],
        created: ["t-worker-1", "t-worker-3"],
        kept: ["t-manager-1", "t-worker-2", "t-worker-5"],
        removed: [],
      },
    ],
    [
      "a replaced worker's place goes to a new number, never its own",
      {
        managers: 1,
        workers: 2,
        existing: ["t-manager-1", "t-worker-1", "t-worker-2"],
        replace: ["t-worker-1"],
      },
      {
        hosts: ["t-manager-1", "t-worker-2", "t-worker-3"],
        created: ["t-worker-3"],
        kept: ["t-manager-1", "t-worker-2"],
        removed: ["t-worker-1"],
      },
    ],
    [
      "a replaced manager out of 3 takes the lowest number no host has",
      {
        managers: 3,
        workers: 1,
        existing: ["t-manager-1", "t-manager-3", "t-manager-4", "t-worker-1"],
        replace: ["t-manager-3"],
      },
      {
        hosts: ["t-manager-1", "t-manager-2", "t-manager-4", "t-worker-1"],
        created: ["t-manager-2"],
        kept: ["t-manager-1", "t-manager-4", "t-worker-1"],
        removed: ["t-manager-3"],
      },
    ],
    [
      "a replacement and a count change at once",
      {
        managers: 1,
        workers: 3,
        existing: ["t-manager-1", "t-worker-1", "t-worker-2"],
        replace: ["t-worker-2"],
      },
      {
        hosts: ["t-manager-1", "t-worker-1", "t-worker-3", "t-worker-4"],
        created: ["t-worker-3", "t-worker-4"],
        kept: ["t-manager-1", "t-worker-1"],
        removed: ["t-worker-2"],
      },
    ],
  ])("%s", (_what, input, expected) => {
    const plan = planHosts({ target: "t", ...input });
    expect({
      hosts: names(plan),
      created: plan.created,
      kept: plan.kept,
      removed: plan.removed,
    }).toEqual(expected);
  });

  it("gives each host its role and number", () => {
    expect(planHosts({ target: "t", managers: 1, workers: 1, existing: [] }).hosts).toEqual([
      { name: "t-manager-1", role: "manager", n: 1 },
      { name: "t-worker-1", role: "worker", n: 1 },
    ]);
  });

  it("a target whose name contains a role word still parses its own hosts only", () => {
    const plan = planHosts({
      target: "worker-a",
      managers: 1,
      workers: 1,
      existing: ["worker-a-manager-1", "worker-a-worker-1"],
    });
    expect(plan.created).toEqual([]);
    expect(parseHostName("worker-a", "worker-b-worker-1")).toBeUndefined();
    expect(parseHostName("t", "t-worker-01")).toBeUndefined();
  });

  it.each<
    [string, Omit<HostPlanInput, "target">, typeof OperationError | typeof UsageError, RegExp]
  >([
    [
      "a host of another naming in the state",
      { managers: 1, workers: 1, existing: ["t-manager-1", "t-web-1"] },
      OperationError,
      /did not name: t-web-1/,
    ],
    [
      "replacing a host that does not exist",
      { managers: 1, workers: 1, existing: ["t-manager-1", "t-worker-1"], replace: ["t-worker-7"] },
      UsageError,
      /cannot remove t-worker-7: no such host.*/,
    ],
    [
      "removing a host that does not exist",
      { managers: 1, workers: 1, existing: ["t-manager-1", "t-worker-1"], remove: ["t-worker-9"] },
      UsageError,
      /cannot remove t-worker-9: no such host/,
    ],
    [
      "removing a host while the count stays",
      {
        managers: 1,
        workers: 2,
        existing: ["t-manager-1", "t-worker-1", "t-worker-2"],
        remove: ["t-worker-1"],
      },
      UsageError,
      /would leave 1 workers, but cluster.yaml asks for 2/,
    ],
  ])("refuses %s", (_what, input, type, message) => {
    const plan = () => planHosts({ target: "t", ...input });
    expect(plan).toThrow(type);
    expect(plan).toThrow(message);
  });

  it("the count hint names the field to lower", () => {
    try {
      planHosts({
        target: "t",
        managers: 3,
        workers: 1,
        existing: ["t-manager-1", "t-manager-2", "t-manager-3", "t-worker-1"],
        remove: ["t-manager-2"],
      });
      expect.unreachable();
    } catch (error) {
      expect((error as UsageError).hint).toBe(
        "lower targets.t.managers in cluster.yaml to 2 as well",
      );
    }
  });
});

describe("package data host", () => {
  it.each<[string, Omit<HostPlanInput, "target">, string | undefined]>([
    [
      "the lowest worker on the first bring-up",
      { managers: 1, workers: 2, existing: [] },
      "t-worker-1",
    ],
    [
      "the current one while it stays",
      {
        managers: 1,
        workers: 3,
        existing: ["t-manager-1", "t-worker-2", "t-worker-3"],
        packageDataHost: "t-worker-3",
      },
      "t-worker-3",
    ],
    [
      "the lowest remaining worker when its holder is removed",
      {
        managers: 1,
        workers: 1,
        existing: ["t-manager-1", "t-worker-1", "t-worker-2"],
        remove: ["t-worker-1"],
        packageDataHost: "t-worker-1",
      },
      "t-worker-2",
    ],
    [
      "not a new worker-1 that appears after worker-1 was removed",
      {
        managers: 1,
        workers: 2,
        existing: ["t-manager-1", "t-worker-2"],
        packageDataHost: "t-worker-2",
      },
      "t-worker-2",
    ],
  ])("%s", (_what, input, expected) => {
    expect(planHosts({ target: "t", ...input }).packageDataHost).toBe(expected);
  });
});

describe("local addressing", () => {
  it.each([
    ["manager-1", "manager", 1, "10.213.0.11", 2211],
    ["manager-7", "manager", 7, "10.213.0.17", 2217],
    ["worker-1", "worker", 1, "10.213.0.101", 2301],
    ["worker-50", "worker", 50, "10.213.0.150", 2350],
  ] as const)("%s", (name, role, n, ip, port) => {
    expect(localAddress({ name, role, n }, "10.213.0.0/24", 2200)).toEqual({
      privateIp: ip,
      sshPort: port,
    });
  });

  it("does not depend on the other hosts: adding one changes no other address", () => {
    const address = (plan: ReturnType<typeof planHosts>) =>
      Object.fromEntries(plan.hosts.map((h) => [h.name, localAddress(h, "10.213.0.0/24", 2200)]));
    const before = address(planHosts({ target: "t", managers: 1, workers: 2, existing: [] }));
    const after = address(
      planHosts({ target: "t", managers: 3, workers: 3, existing: Object.keys(before) }),
    );
    for (const [name, a] of Object.entries(before)) expect(after[name]).toEqual(a);
    const all = Object.values(after);
    expect(new Set(all.map((a) => a.privateIp)).size).toBe(all.length);
    expect(new Set(all.map((a) => a.sshPort)).size).toBe(all.length);
  });

  it("addresses a larger subnet from its network address", () => {
    expect(localAddress({ name: "w", role: "worker", n: 2 }, "10.20.0.0/16", 40000)).toEqual({
      privateIp: "10.20.0.102",
      sshPort: 40102,
    });
  });

  it("lays out the load balancer, Pebble, its DNS, the apt repository and Docker's own range away from the hosts", () => {
    expect(localNetwork("10.213.0.0/24")).toEqual({
      subnet: "10.213.0.0/24",
      loadBalancerIp: "10.213.0.2",
      pebbleIp: "10.213.0.3",
      acmeDnsIp: "10.213.0.4",
      aptIp: "10.213.0.6",
      registryIp: "10.213.0.5",
      dynamicRange: "10.213.0.224/27",
    });
  });

  it.each([
    ["a subnet smaller than /24", () => localNetwork("10.0.0.0/25"), /not an IPv4 subnet/],
    ["a subnet that is no CIDR", () => localNetwork("10.0.0.300/24"), /not an IPv4 subnet/],
    [
      "a manager number past the managers' block",
      () => localAddress({ name: "t-manager-90", role: "manager", n: 90 }, "10.0.0.0/24", 2200),
      /numbers managers up to 89/,
    ],
    [
      "an SSH port past 65535",
      () => localAddress({ name: "t-worker-99", role: "worker", n: 99 }, "10.0.0.0/24", 65400),
      /SSH port 65599/,
    ],
  ])("refuses %s", (_what, fn, message) => {
    expect(fn).toThrow(OperationError);
    expect(fn).toThrow(message);
  });
});
