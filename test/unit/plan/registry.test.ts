import { describe, expect, it } from "vitest";
import {
  buildsPlatformImages,
  hasLocalRegistry,
  imageRef,
  platformImageRef,
  registryAddresses,
  registryHost,
  registryRoom,
  repositoryOf,
  repositoryPath,
} from "../../../src/plan/registry.js";
import { parseBearerChallenge } from "../../../src/docker/registry-api.js";
import { planClusterSecrets, forgetClusterSecrets } from "../../../src/plan/secrets.js";
import { siteExtraVars, siteSecretEnv } from "../../../src/ansible/site.js";
import {
  explainAllocation,
  explainFailedPull,
  pullFailure,
} from "../../../src/nomad/deployment.js";
import { formatStatus, type ServiceStatus } from "../../../src/commands/status.js";
import type { AllocationStub } from "../../../src/nomad/types.js";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const local = { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" };
const digitalocean = "registry.digitalocean.com/elm-lang";

describe("where a target's images are", () => {
  it.each([
    [local, "pull", "10.213.0.5:5000/elm-lang.org:1.4.2"],
    [local, "push", "127.0.0.1:15000/elm-lang.org:1.4.2"],
    [digitalocean, "pull", "registry.digitalocean.com/elm-lang/elm-lang.org:1.4.2"],
    [digitalocean, "push", "registry.digitalocean.com/elm-lang/elm-lang.org:1.4.2"],
    ["none", "pull", "elm-lang.org:1.4.2"],
  ] as const)("%j, %s side → %s", (registry, side, ref) => {
    expect(imageRef(registry, "elm-lang.org", "1.4.2", side)).toBe(ref);
  });

  it("keys Docker's trust and credentials by host[:port], and repositories by the address's path", () => {
    expect(registryAddresses("none")).toBeUndefined();
    expect(registryAddresses(digitalocean)).toEqual({ push: digitalocean, pull: digitalocean });
    expect(registryHost(local.pull)).toBe("10.213.0.5:5000");
    expect(registryHost(digitalocean)).toBe("registry.digitalocean.com");
    expect(repositoryPath(digitalocean, "acme-issuer")).toBe("elm-lang/acme-issuer");
    expect(repositoryPath(local.push, "elm-lang.org")).toBe("elm-lang.org");
  });

  it("the local target builds Traefik's and the export's images and runs its own registry; the dev target and production do not", () => {
    const image = { source: "traefik:v3.6.12", name: "traefik:v3.6.12" };
    expect(buildsPlatformImages({ provider: "local", registry: local })).toBe(true);
    expect(buildsPlatformImages({ provider: "local", registry: "none" })).toBe(false);
    expect(buildsPlatformImages({ provider: "digitalocean", registry: digitalocean })).toBe(false);
    expect(hasLocalRegistry({ provider: "local", registry: local })).toBe(true);
    expect(
      hasLocalRegistry({
        provider: "local",
        registry: "none",
        endpoints: {} as never,
      }),
    ).toBe(false);
    expect(platformImageRef({ registry: local }, image)).toBe("10.213.0.5:5000/traefik:v3.6.12");
    expect(platformImageRef({ registry: "none" }, image)).toBe("traefik:v3.6.12");
  });
});

describe("parseBearerChallenge", () => {
  it.each([
    [
      'Bearer realm="https://api.digitalocean.com/v2/registry/auth",service="registry.digitalocean.com",scope="repository:elm-lang/x:pull"',
      {
        realm: "https://api.digitalocean.com/v2/registry/auth",
        service: "registry.digitalocean.com",
        scope: "repository:elm-lang/x:pull",
      },
    ],
    ['Basic realm="elm-infra registry"', undefined],
    ['Bearer service="x"', undefined],
    [undefined, undefined],
  ])("%s", (header, fields) => expect(parseBearerChallenge(header)).toEqual(fields));
});

describe("the local registry's credentials", () => {
  const generators = {
    uuid: () => "00000000-0000-0000-0000-000000000001",
    gossipKey: () => "k".repeat(43) + "=",
    registryUsername: () => "elm-registry-abc",
    registryPassword: () => "pw",
    clusterSnapshotIdentity: () => `AGE-SECRET-KEY-1${"Q".repeat(58)}`,
  };

  it("are generated only for a target with its own registry, kept once there, and forgotten with it", () => {
    const production = planClusterSecrets({}, {}, generators);
    expect(production.generated).not.toContain("registryPassword");
    const first = planClusterSecrets({}, {}, generators, { localRegistry: true });
    expect(first.file).toMatchObject({
      registryUsername: "elm-registry-abc",
      registryPassword: "pw",
    });
    expect(first.generated).toEqual(
      expect.arrayContaining(["registryUsername", "registryPassword"]),
    );
    const again = planClusterSecrets(first.file, first.file, generators, { localRegistry: true });
    expect(again.generated).toEqual([]);
    const planted = planClusterSecrets(
      { registryPassword: "mine" },
      { registryPassword: "mine" },
      generators,
      {
        localRegistry: true,
      },
    );
    expect(planted.file.registryPassword).toBe("mine");
    expect(forgetClusterSecrets(first.file, { localRegistry: true })).toEqual({
      clusterSnapshotIdentity: first.file.clusterSnapshotIdentity,
    });
    expect(forgetClusterSecrets(first.file)).toMatchObject({ registryPassword: "pw" });
  });

  it("reach Ansible only through its environment; the registry's address and CA as variables", () => {
    const hosts = [
      {
        name: "t-manager-1",
        role: "manager" as const,
        privateIp: "10.0.0.11",
        sshHost: "127.0.0.1",
        sshPort: 2211,
      },
    ];
    const settings = {
      target: "t",
      softwareSource: "official" as const,
      consulVersion: "1",
      nomadVersion: "1",
      agentRepository: { url: "http://10.213.0.6", keyUrl: "http://10.213.0.6/gpg" },
      authorizedKeys: ["ssh-ed25519 AAAA elm-infra t"],
    };
    const vars = siteExtraVars(
      { ...settings, registry: { host: "10.213.0.5:5000", ca: "PEM" } },
      hosts,
    );
    expect(vars).toMatchObject({
      elm_infra_registry_host: "10.213.0.5:5000",
      elm_infra_registry_ca: "PEM",
    });
    expect(JSON.stringify(siteExtraVars(settings, hosts))).not.toContain("registry");
    const secrets = {
      consulGossipKey: "a",
      consulManagementToken: "b",
      consulAgentToken: "c",
      consulNomadToken: "d",
      consulTraefikToken: "e",
      nomadGossipKey: "f",
      nomadManagementToken: "g",
    };
    expect(siteSecretEnv(secrets)).not.toHaveProperty("ELM_INFRA_REGISTRY_PASSWORD");
    expect(
      siteSecretEnv({ ...secrets, registryUsername: "u", registryPassword: "p" }),
    ).toMatchObject({ ELM_INFRA_REGISTRY_USERNAME: "u", ELM_INFRA_REGISTRY_PASSWORD: "p" });
  });
});

describe("explainFailedPull", () => {
  it.each([
    [
      'Failed to pull `10.213.0.5:5000/elm-lang.org:9.9.9`: Error response from daemon: Head "https://10.213.0.5:5000/v2/elm-lang.org/manifests/9.9.9": no basic auth credentials',
      /^could not pull 10\.213\.0\.5:5000\/elm-lang\.org:9\.9\.9 from 10\.213\.0\.5:5000: unauthorized .*run bring-up again/,
    ],
    [
      "Failed to pull `registry.digitalocean.com/elm-lang/elm-lang.org:2`: Error response from daemon: manifest for registry.digitalocean.com/elm-lang/elm-lang.org:2 not found: manifest unknown",
      /from registry\.digitalocean\.com: not found .*push that version first/,
    ],
    [
      'Failed to pull `10.213.0.5:5000/tiny:busybox`: Error response from daemon: Get "https://10.213.0.5:5000/v2/": dial tcp 10.213.0.5:5000: connect: connection refused',
      /from 10\.213\.0\.5:5000: unreachable .*check that the workers reach 10\.213\.0\.5:5000/,
    ],
    ["Failed to pull `busybox:1.36`: toomanyrequests", /from Docker Hub: refused/],
  ])("%s", (message, said) => expect(explainFailedPull(message)).toMatch(said));

  it("leaves every other message to the generic explanation", () => {
    expect(explainFailedPull("Exit Code: 1")).toBeUndefined();
    expect(
      explainAllocation({
        ID: "0123456789",
        TaskStates: {
          site: {
            Events: [
              {
                Type: "Driver Failure",
                DisplayMessage: "Failed to pull `10.213.0.5:5000/x:1`: manifest unknown",
              },
            ],
          },
        },
      } as never),
    ).toEqual([
      "01234567 site: could not pull 10.213.0.5:5000/x:1 from 10.213.0.5:5000: not found (manifest unknown); push that version first: elm-infra image <service>@<version> --context <build output>",
    ]);
  });
});

describe("pullFailure: an allocation held back by its image (status, bring-up's certificates step)", () => {
  // A real answer of /v1/job/:id/allocations (test/fixtures/answers): a task pending after a
  // failed pull, Nomad about to try again.
  const recorded = JSON.parse(
    readFileSync(
      resolve(import.meta.dirname, "../../fixtures/answers/nomad-job-allocations.json"),
      "utf8",
    ),
  ) as AllocationStub[];

  it("names the task, the image, the registry and the reason, from Nomad's own events", () => {
    expect(pullFailure(recorded[0]!)).toMatch(
      /^web: could not pull elm-infra\/does-not-exist:1 from Docker Hub: /,
    );
  });

  it("is silent for a task that runs, and for one that started after a failed pull", () => {
    const [alloc] = structuredClone(recorded);
    const web = alloc!.TaskStates!.web!;
    expect(pullFailure({ TaskStates: { web: { ...web, State: "running" } } })).toBeUndefined();
    const started = { ...web, Events: [...(web.Events ?? []), { Type: "Started" }] };
    expect(pullFailure({ TaskStates: { web: started } } as never)).toBeUndefined();
    expect(pullFailure({ TaskStates: null } as never)).toBeUndefined();
  });

  it("status prints it under its allocation", () => {
    const service: ServiceStatus = {
      service: "elm-lang.org",
      deployed: true,
      version: "2",
      jobVersion: 3,
      jobStatus: "running",
      count: 1,
      deployment: null,
      allocations: [
        {
          id: "0123abcd",
          node: "w-1",
          version: "2",
          status: "pending",
          healthy: null,
          canary: true,
          pullFailure: pullFailure(recorded[0]!)!,
        },
      ],
      traefik: { router: "elm-lang-org", routerStatus: null, servers: {} },
      hostnames: ["elm-lang.org"],
    };
    const text = formatStatus({ target: "t", services: [service] });
    expect(text).toMatch(
      /alloc 0123abcd on w-1: 2 pending, health unknown, canary\n {4}web: could not pull elm-infra\/does-not-exist:1/,
    );
  });
});

describe("registryRoom: DigitalOcean's registry plan must hold every repository elm-infra pushes", () => {
  const needed = ["elm-lang.org", "package.elm-lang.org", repositoryOf("acme-issuer:v4.26.0")];

  it("refuses the starter plan's one repository, naming the plan, the repositories and the count", () => {
    expect(registryRoom({ name: "Starter", includedRepositories: 1 }, needed, [])).toBe(
      "the registry's Starter plan holds 1 repository, and elm-infra pushes elm-lang.org, package.elm-lang.org, acme-issuer: with the 0 it holds (none) that makes 3",
    );
  });

  it("counts what the registry already holds, and what elm-infra pushes again only once", () => {
    const basic = { name: "Basic", includedRepositories: 5 };
    expect(registryRoom(basic, needed, ["elm-lang.org", "other"])).toBeUndefined();
    expect(registryRoom(basic, needed, ["a", "b", "c"])).toMatch(/holds 5 repositories.*makes 6$/);
    expect(registryRoom(basic, needed, ["a", "b", "elm-lang.org"])).toBeUndefined();
  });

  it("a plan that includes 0 repositories has no limit (Professional)", () => {
    const many = Array.from({ length: 40 }, (_, i) => `r${i}`);
    expect(registryRoom({ name: "Professional", includedRepositories: 0 }, needed, many)).toBe(
      undefined,
    );
  });
});
