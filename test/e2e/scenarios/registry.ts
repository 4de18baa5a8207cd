/**
 * Issue 20, item 1: every image comes from the target's registry, with the workers' credentials.
 *   - the workers' Docker holds the issuer's, the ingress's, both sites' and the backup jobs'
 *     images under repo digests that name the registry (nothing shipped over SSH), and every
 *     container running on a worker runs an image of the registry;
 *   - an anonymous pull from a worker is refused; the credentials are only in the Docker
 *     driver's auth file (root 0600) and the CA in Docker's certs.d for the registry's address;
 *   - a deploy of a version missing from the registry fails before submitting anything (exit 2,
 *     naming the image and the registry), and the old version keeps serving.
 * The secrets audit (scenarios/secrets.ts) searches for the registry's user and password.
 */
import { execa } from "execa";
import { expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import { connectToCluster } from "../../../src/cluster/connect.js";
import { registryAddresses } from "../../../src/plan/registry.js";
import type { PruneResult } from "../../../src/commands/prune.js";
import { registryApi } from "../../../src/tasks/registry.js";
import { removeImages } from "../../harness/apps.js";
import {
  bothSitesAt100,
  docker,
  e2e,
  elmInfra,
  ensureDeployed,
  errorOf,
  hostNames,
  pushToTargetRegistry,
  resultOf,
  runningVersions,
  throughLoadBalancer,
} from "../support.js";

async function addresses() {
  const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
  return registryAddresses(loaded.target.registry)!;
}

const workers = async () => (await hostNames()).split("\n").filter((n) => n.includes("-worker-"));

export function registryScenarios(): void {
  it("every image on the workers comes from the registry: repo digests name it (issuer, ingress, both sites, backups); nothing else runs", async () => {
    await ensureDeployed(bothSitesAt100);
    const { pull } = await addresses();
    const repositories = new Set<string>();
    for (const worker of await workers()) {
      const digests = await docker(
        "exec",
        worker,
        "sh",
        "-c",
        "docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' $(docker image ls -q)",
      );
      for (const d of digests.split("\n").filter((l) => l.includes("@sha256:")))
        repositories.add(d.slice(0, d.indexOf("@")));
      // Every container a job runs on this worker: an image pulled from the registry.
      const running = (await docker("exec", worker, "docker", "ps", "--format", "{{.Image}}"))
        .split("\n")
        .filter((l) => l);
      expect(running.length, worker).toBeGreaterThan(0);
      for (const image of running) expect(image, worker).toMatch(new RegExp(`^${pull}/`));
      // The credentials only in the Docker driver's auth file, root 0600; the CA for its address.
      expect(
        await docker("exec", worker, "stat", "-c", "%a %U", "/etc/docker/nomad-auth.json"),
      ).toBe("600 root");
      await docker("exec", worker, "test", "-s", `/etc/docker/certs.d/${pull}/ca.crt`);
    }
    for (const repository of [
      "acme-issuer",
      "traefik",
      "elm-lang.org",
      "package.elm-lang.org",
      "tiny",
    ])
      expect([...repositories]).toContain(`${pull}/${repository}`);
    for (const repository of repositories) expect(repository).toMatch(new RegExp(`^${pull}/`));
  });

  it("an anonymous pull from the registry is refused (a worker's Docker without the driver's credentials, and its API)", async () => {
    const { pull } = await addresses();
    const worker = (await workers())[0]!;
    // The worker's own Docker CLI has no login (only Nomad's driver has the credentials).
    const refused = await docker(
      "exec",
      worker,
      "sh",
      "-c",
      `docker pull ${pull}/elm-lang.org:1.0.0 2>&1; echo "exit=$?"`,
    );
    expect(refused).toMatch(/no basic auth credentials|unauthorized|authentication required/);
    expect(refused).toMatch(/exit=[1-9]/);
    const status = await docker(
      "exec",
      worker,
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--cacert",
      `/etc/docker/certs.d/${pull}/ca.crt`,
      `https://${pull}/v2/elm-lang.org/manifests/1.0.0`,
    );
    expect(status).toBe("401");
  });

  it("a deploy of a version missing from the registry fails before submitting anything; the old version keeps serving", async () => {
    await ensureDeployed(bothSitesAt100);
    const { pull, push } = await addresses();
    const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
    const apis = await connectToCluster(loaded);
    const before = await apis.nomad.readJob("elm-lang.org").finally(() => apis.close());
    const missing = `9.9.9-missing-${e2e.target}`;
    const r = await elmInfra(["deploy", `elm-lang.org@${missing}`, "--yes"]);
    expect(r.exitCode, errorOf(r)).toBe(2);
    expect(errorOf(r)).toContain(`${pull}/elm-lang.org:${missing}`);
    expect(errorOf(r)).toContain(`is not in the registry ${push}`);
    const again = await connectToCluster(loaded);
    const after = await again.nomad.readJob("elm-lang.org").finally(() => again.close());
    expect(after?.Version).toBe(before?.Version);
    expect(after?.JobModifyIndex).toBe(before?.JobModifyIndex);
    expect((await runningVersions())["elm-lang.org"]).toBe("1.0.0");
    const res = await throughLoadBalancer("elm-lang.org", "/health");
    expect(res.status).toBe(200);
    expect(String(res.headers["x-elm-version"])).toBe("1.0.0");
  });

  it("prune keeps every version Nomad tracks and the newest --keep besides, deletes the rest from the registry, and leaves a tag whose image a kept tag shares; --dry-run deletes nothing", async () => {
    await ensureDeployed(bothSitesAt100);
    const loaded = await loadConfig({ file: e2e.config, target: e2e.target, env: {} });
    const api = await registryApi(loaded);
    // Three versions above any other: 50.0.1 is the same image as 50.0.3.
    const made: string[] = [];
    try {
      for (const n of [1, 2, 3]) {
        const source = `elm-infra-prune-${e2e.target}:${n}`;
        await execa("docker", ["build", "-q", "-t", source, "-"], {
          input: `FROM elm-infra/tiny:latest\nLABEL elm-infra.prune=${n === 1 ? 3 : n}\n`,
        });
        made.push(source, await pushToTargetRegistry(source, "elm-lang.org", `50.0.${n}`));
      }
      const has = async (tag: string) => api.hasTag("elm-lang.org", tag);

      const planned = await elmInfra(["prune", "elm-lang.org", "--keep", "1", "--dry-run"]);
      expect(planned.exitCode, errorOf(planned)).toBe(0);
      expect(resultOf<PruneResult>(planned)).toMatchObject({ outcome: "planned" });
      expect(await has("50.0.2")).toBe(true);

      const r = await elmInfra(["prune", "elm-lang.org", "--keep", "1", "--yes"]);
      expect(r.exitCode, errorOf(r)).toBe(0);
      const pruned = resultOf<PruneResult>(r);
      expect(pruned.outcome).toBe("pruned");
      expect(pruned.keep).toContainEqual({ tag: "1.0.0", why: "tracked by Nomad" });
      expect(pruned.keep).toContainEqual({ tag: "50.0.3", why: "among the newest" });
      expect(pruned.remove).toEqual(expect.arrayContaining(["50.0.2", "50.0.1"]));
      expect(pruned.shared).toEqual([{ tag: "50.0.1", with: "50.0.3" }]);
      expect(await has("50.0.2")).toBe(false);
      expect(await has("50.0.1")).toBe(true);
      expect(await has("50.0.3")).toBe(true);
      // What Nomad tracks stays pullable, and the site keeps serving it.
      expect(await has("1.0.0")).toBe(true);
      expect((await runningVersions())["elm-lang.org"]).toBe("1.0.0");
    } finally {
      await removeImages(made);
    }
  });
}
