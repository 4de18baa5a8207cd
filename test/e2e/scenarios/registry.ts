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
import { expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import { connectToCluster } from "../../../src/cluster/connect.js";
import { registryAddresses } from "../../../src/plan/registry.js";
import {
  bothSitesAt100,
  docker,
  e2e,
  elmInfra,
  ensureDeployed,
  errorOf,
  hostNames,
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
}
