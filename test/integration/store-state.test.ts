/**
 * OpenTofu's state in the shared store, with its S3 lockfile (`use_lockfile`), as
 * renderStoreBackend writes the backend: the real `tofu` against a real versitygw on loopback.
 * Two working copies (two operators' folders) of one small configuration: an apply from the
 * first stores the state in the store (nothing on this machine); while an apply holds the
 * lockfile, the second copy's apply is refused by the lock and changes nothing; afterwards no
 * lockfile is left.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreClient } from "../../src/store/client.js";
import { backendFileName, renderStoreBackend, storeStateKey } from "../../src/terraform/backend.js";
import { toolPath } from "../harness/agents.js";
import { startObjectStore, type LocalObjectStore } from "../harness/object-store.js";

const prefix = "elm-infra/shared/";
const config = `
variable "n" { type = number }
variable "pause" {
  type    = number
  default = 0
}
resource "terraform_data" "marker" {
  input            = var.n
  triggers_replace = var.n
  provisioner "local-exec" { command = "sleep \${var.pause}" }
}
`;

let store: LocalObjectStore;
let client: StoreClient;
let work: string;
let env: Record<string, string>;

/** A working copy of the configuration with the store's backend, initialised. */
async function workingCopy(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  await writeFile(join(dir, "main.tf"), config);
  await writeFile(
    join(dir, backendFileName),
    renderStoreBackend("shared", { ...store.location(prefix) }),
  );
  const init = await tofu(dir, ["init", "-input=false", "-no-color"]);
  expect(init.exitCode, init.stderr).toBe(0);
  return dir;
}

function tofu(dir: string, args: string[]) {
  return execa(toolPath("tofu"), args, {
    cwd: dir,
    env,
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    timeout: 120_000,
  });
}

const apply = (dir: string, n: number, extra: string[] = []) =>
  tofu(dir, ["apply", "-input=false", "-no-color", "-auto-approve", `-var=n=${n}`, ...extra]);

async function storedState(): Promise<{
  resources: Array<{ instances: Array<{ attributes: { input: { value: unknown } } }> }>;
}> {
  const object = await client.get(storeStateKey);
  expect(object, "no state in the store").toBeDefined();
  return JSON.parse(object!.body);
}

beforeAll(async () => {
  store = await startObjectStore();
  client = new StoreClient(store.location(prefix), store.credentials);
  work = await mkdtemp(join(tmpdir(), "elm-infra-tfstate-"));
  env = {
    PATH: process.env.PATH ?? "",
    HOME: work,
    TF_IN_AUTOMATION: "1",
    CHECKPOINT_DISABLE: "1",
    AWS_ACCESS_KEY_ID: store.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey,
  };
});

afterAll(async () => {
  client?.close();
  await store?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("OpenTofu's state in the store", () => {
  let first: string;
  let second: string;

  it("an apply stores the state in the store, none on this machine, and leaves no lockfile", async () => {
    first = await workingCopy("first");
    const r = await apply(first, 1);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await storedState()).resources[0]?.instances[0]?.attributes.input.value).toBe(1);
    expect(await readdir(first)).not.toContain("terraform.tfstate");
    expect(await client.list()).toEqual([storeStateKey]);
  });

  it("while one apply holds the lock, another operator's apply is refused and changes nothing", async () => {
    second = await workingCopy("second");
    const holding = apply(first, 2, ["-var=pause=8"]);
    // the first apply's lockfile is in the store before the second one starts
    const lockKey = `${storeStateKey}.tflock`;
    for (let i = 0; i < 100 && !(await client.list()).includes(lockKey); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await client.list()).toContain(lockKey);
    const refused = await apply(second, 3, ["-lock-timeout=0s"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("Error acquiring the state lock");
    const held = await holding;
    expect(held.exitCode, held.stderr).toBe(0);
    expect((await storedState()).resources[0]?.instances[0]?.attributes.input.value).toBe(2);
    expect(await client.list()).toEqual([storeStateKey]);
  });
});
