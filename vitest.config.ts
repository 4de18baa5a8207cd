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
    ],
  },
});
