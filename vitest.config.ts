import { defineConfig } from "vitest/config";

// unit: pure logic, no programs needed, first (both cores, about half a minute). integration: real
// Nomad, Consul, Traefik, Docker, sshd, Ansible and OpenTofu started by test/harness, one file at a
// time. e2e: one brought-up local cluster, its scenarios in sequence. Integration and e2e run
// beside each other: both spend most of their time waiting on agents, deployments and timers, and
// one after the other they took 52 minutes of the 55 a warm run may take (docs/test-times.md).
export default defineConfig({
  test: {
    projects: [
      // Every project names its group: a project without one runs beside all the others.
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // cli.test.ts starts the built CLI (~0.5 s each); on 2 cores shared with the
          // integration tests' agents one start can pass vitest's 5 s default.
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // One local cluster (host containers, the real CLI) brought up once per run, its scenarios
        // in sequence, beside the integration files (its subnets and SSH ports are apart from theirs).
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 1_200_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Benchmarks: run with `npm run bench`, never as part of the tests.
        test: {
          name: "bench",
          include: ["test/bench/**/*.run.ts"],
          // one at a time: a start-up timing beside a running cluster would measure the cluster
          fileParallelism: false,
          testTimeout: 1_800_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
