/**
 * Test harness: a real image registry (Debian's docker-registry, distribution 2.8) on a free
 * loopback port with htpasswd authentication, its storage and config in a temporary folder.
 * Docker treats 127.0.0.0/8 as an insecure registry, so the local engine pushes to it over HTTP.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { request } from "undici";
import { freePorts } from "./ports.js";

export interface LocalRegistry {
  /** `127.0.0.1:<port>`: the registry part of an image reference. */
  address: string;
  username: string;
  password: string;
  stop(): Promise<void>;
}

/** Starts the registry with one user; resolves once `/v2/` answers 401 (at most 15 s). */
export async function startRegistry(username: string, password: string): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "elm-infra-registry-"));
  const [port] = (await freePorts(1)) as [number];
  // htpasswd -B: bcrypt, the only scheme distribution's htpasswd auth accepts.
  const hash = await execa("htpasswd", ["-nbB", username, password], { timeout: 10_000 });
  await writeFile(join(dir, "htpasswd"), String(hash.stdout).trim() + "\n");
  await writeFile(
    join(dir, "config.yml"),
    `version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: ${join(dir, "data")} } }
http: { addr: 127.0.0.1:${port} }
auth: { htpasswd: { realm: elm-infra-test, path: ${join(dir, "htpasswd")} } }
`,
  );
  const child: ResultPromise = execa(
    "/usr/bin/docker-registry",
    ["serve", join(dir, "config.yml")],
    {
      reject: false,
      stdin: "ignore",
      timeout: 1_800_000,
    },
  );
  const stop = async () => {
    child.kill("SIGTERM");
    await Promise.race([child, new Promise((r) => setTimeout(r, 5_000))]);
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await request(`http://127.0.0.1:${port}/v2/`, { headersTimeout: 2_000 })
      .then(async (r) => (await r.body.dump(), r.statusCode))
      .catch(() => 0);
    if (status === 401) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      const out = await Promise.race([child, Promise.resolve(undefined)]);
      await stop();
      throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${out?.stderr ?? ""}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { address: `127.0.0.1:${port}`, username, password, stop };
}
