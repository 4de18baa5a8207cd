import { describe, expect, it } from "vitest";
import {
  agentRepository,
  localAgentRepositoryDir,
  securityRepository,
} from "../../../src/plan/agents.js";

describe("agentRepository: where the hosts install Consul and Nomad from", () => {
  it.each([
    [
      "digitalocean: HashiCorp's repository and key",
      { provider: "digitalocean" as const },
      {
        url: "https://apt.releases.hashicorp.com",
        keyUrl: "https://apt.releases.hashicorp.com/gpg",
      },
    ],
    [
      "local: the target's own stand-in at .6 of its network",
      { provider: "local" as const },
      { url: "http://10.213.0.6", keyUrl: "http://10.213.0.6/gpg" },
    ],
    [
      "local on another subnet",
      { provider: "local" as const, network: { subnet: "10.50.0.0/24" } },
      { url: "http://10.50.0.6", keyUrl: "http://10.50.0.6/gpg" },
    ],
    [
      "a mirror given in cluster.yaml, its key elsewhere",
      {
        provider: "digitalocean" as const,
        agentRepository: {
          url: "https://mirror.example.org/hashicorp",
          keyUrl: "https://k.example.org/gpg",
        },
      },
      { url: "https://mirror.example.org/hashicorp", keyUrl: "https://k.example.org/gpg" },
    ],
    [
      "a mirror with its key at <url>/gpg",
      { provider: "local" as const, agentRepository: { url: "http://10.0.0.9:8080" } },
      { url: "http://10.0.0.9:8080", keyUrl: "http://10.0.0.9:8080/gpg" },
    ],
  ])("%s", (_what, target, expected) => {
    expect(agentRepository(target)).toEqual(expected);
  });

  it("keys the local stand-in's folder by the pinned version pair (with the security suite)", () => {
    expect(localAgentRepositoryDir("/c", { nomad: "1.10.5", consul: "1.22.0" })).toBe(
      "/c/apt/repo/nomad-1.10.5-consul-1.22.0-security",
    );
  });
});

describe("securityRepository: Debian's security archive where the hosts' sources lack it", () => {
  it.each([
    [
      "digitalocean: none added (the droplets' own Debian sources)",
      { provider: "digitalocean" as const },
      undefined,
    ],
    [
      "local: the stand-in beside the agents' repository, at .6 of its network",
      { provider: "local" as const, network: { subnet: "10.50.0.0/24" } },
      { url: "http://10.50.0.6", keyUrl: "http://10.50.0.6/gpg" },
    ],
  ])("%s", (_what, target, expected) => {
    expect(securityRepository(target)).toEqual(expected);
  });
});
