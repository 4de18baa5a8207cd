import { execa } from "execa";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const fixture = resolve(import.meta.dirname, "../fixtures/app");

/**
 * Builds the stand-in site (test/fixtures/app) once as a static binary and wraps it into local
 * images `<repository>:<version>` on elm-infra/tiny, one per version, with an optional failure.
 */
export async function buildAppImages(
  repository: string,
  versions: Array<{ version: string; fail?: "exit" | "health"; startDelay?: string }>,
): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "elm-infra-app-"));
  try {
    await execa("go", ["build", "-o", join(dir, "app"), "main.go"], {
      cwd: fixture,
      env: { CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GO111MODULE: "off" },
    });
    const tags: string[] = [];
    for (const { version, fail, startDelay } of versions) {
      const dockerfile = [
        "FROM elm-infra/tiny:latest",
        "COPY app /app",
        `ENV APP_VERSION=${version}${fail ? ` APP_FAIL=${fail}` : ""}${startDelay ? ` APP_START_DELAY=${startDelay}` : ""}`,
        'ENTRYPOINT ["/app"]',
        "",
      ].join("\n");
      await writeFile(join(dir, "Dockerfile"), dockerfile);
      const tag = `${repository}:${version}`;
      await execa("docker", ["build", "-q", "-t", tag, dir]);
      tags.push(tag);
    }
    return tags;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function removeImages(tags: string[]): Promise<void> {
  if (tags.length) await execa("docker", ["rmi", "-f", ...tags], { reject: false });
}
