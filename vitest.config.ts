import { defineConfig } from "vitest/config";

// unit: pure logic, no programs needed. integration: real Nomad, Consul, Traefik, Docker, sshd,
// Ansible and OpenTofu started by test/harness. Integration tests run one file at a time: they
// share two cores and a Docker engine. e2e: one brought-up local cluster, after the others in one
// Vitest run; test/run.sh (npm test) runs it in a Vitest run of its own, beside the others.
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
          sequence: { groupOrder: 0 },
        },
      },
      {
        // One local cluster (host containers, the real CLI) brought up once per run, its scenarios
        // in sequence; after the unit and integration tests, never beside them (2 cores).
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
