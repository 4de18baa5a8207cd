import { defineConfig } from "vitest/config";

// unit: pure logic, no programs needed. integration: real Nomad, Consul, Traefik, Docker, sshd,
// Ansible and OpenTofu started by test/harness. Integration tests run one file at a time: they
// share two cores and a Docker engine.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
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
