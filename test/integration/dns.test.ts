/**
 * The wait before the certificates, against the local target's real test DNS: challtestsrv from
 * the pebble image (src/tools/install.sh, images/base/build.sh pebble), started as iac/local
 * starts it (no default answer) and published on a loopback port. A hostname without a record,
 * or with an AAAA record, is named with what to do; once its record is made through the
 * management API (as iac/local makes them), the wait is over.
 */
import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Inventory } from "../../src/cluster/inventory.js";
import type { LoadedConfig } from "../../src/config/load.js";
import type { Service, Target } from "../../src/config/schema.js";
import { WaitTimeoutError } from "../../src/errors.js";
import { waitForDns } from "../../src/tasks/dns.js";
import { freePorts } from "../harness/ports.js";

const image = "elm-infra/pebble:latest";
const present =
  (await execa("docker", ["image", "inspect", image], { reject: false, timeout: 30_000 }))
    .exitCode === 0;
const skip = present ? false : `${image} is missing: run bash images/base/build.sh pebble`;
if (skip) console.warn(`[dns.test] SKIPPED: ${skip}`);

const name = `eit-dns-${randomBytes(3).toString("hex")}`;
const container = `${name}-acme-dns`;
/** The load balancer's address on the target's network: what every record must give. */
const lb = "10.213.0.2";
const hostnames = ["elm-lang.org", "www.elm-lang.org"];

/** The management API, inside the container as iac/local's records reach it. */
async function manage(path: string, body: object): Promise<void> {
  const args = ["exec", container, "curl", "-sS", "--fail", "--max-time", "5", "--retry", "10"];
  await execa("docker", [
    ...args,
    "--retry-connrefused",
    "--retry-delay",
    "1",
    `http://localhost:8055/${path}`,
    "-d",
    JSON.stringify(body),
  ]);
}

function config(dnsPort: number): LoadedConfig {
  const target = {
    provider: "local",
    region: "local",
    image: "elm-infra/host:latest",
    sizes: { manager: "local", worker: "local" },
    managers: 1,
    workers: 1,
    domains: {},
    ssh: { user: "root", port: 22, privateKey: "id_ed25519", knownHosts: "known_hosts" },
    registry: { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" },
    ports: { http: 8080, https: 8443, ssh: 2200, dns: dnsPort },
  } satisfies Target;
  const services = { "elm-lang.org": { hostnames } as Service };
  return {
    root: "/nonexistent",
    file: "/nonexistent/cluster.yaml",
    cluster: { targets: { [name]: target }, services, terraform: { binary: "auto" } },
    targetName: name,
    target,
    secrets: {},
    services,
  };
}

const inventory: Inventory = { target: name, hosts: [], dns: { address: lb } };

describe.skipIf(skip)("the DNS wait, against the target's real test DNS", () => {
  let dnsPort: number;

  beforeAll(async () => {
    [dnsPort] = (await freePorts(1)) as [number];
    const publish = (proto: string) => ["-p", `127.0.0.1:${dnsPort}:8053/${proto}`];
    await execa("docker", [
      "run",
      "-d",
      "--name",
      container,
      "--label",
      `elm-infra.target=${name}`,
      ...publish("udp"),
      ...publish("tcp"),
      image,
      ...["pebble-challtestsrv", "-defaultIPv4=", "-defaultIPv6="],
      ...["-dnsserver", ":8053", "-management", ":8055"],
      ...["-http01=", "-https01=", "-tlsalpn01=", "-doh="],
    ]);
    // One record now, before any wait: elm-lang.org points at the load balancer already.
    await manage("add-a", { host: "elm-lang.org", addresses: [lb] });
  });
  afterAll(async () => {
    await execa("docker", ["rm", "-f", container], { reject: false });
  });

  it("says which hostname has no record and which AAAA record to delete, and gives up at its deadline", async () => {
    await manage("add-aaaa", { host: "www.elm-lang.org", addresses: ["2001:db8::7"] });
    const said: string[] = [];
    const error = await waitForDns(config(dnsPort), inventory, {
      deadlineMs: 5_000,
      log: (l) => said.push(l),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(said[0]).toBe(
      `A records made by OpenTofu in the target's test DNS: elm-lang.org. A ${lb}, www.elm-lang.org. A ${lb}`,
    );
    expect(error).toBeInstanceOf(WaitTimeoutError);
    const message = (error as Error).message;
    expect(message).toContain(
      `DNS does not point this hostname at the load balancer (${lb}) yet:\n  www.elm-lang.org: no A record; AAAA 2001:db8::7\n`,
    );
    expect(message).toContain(`older answer: www.elm-lang.org. A ${lb}`);
    expect(message).toContain("delete the AAAA records of www.elm-lang.org");
    expect(message).not.toMatch(/ {2}elm-lang\.org:/);
    expect(message).toContain(`(asked 127.0.0.1:${dnsPort} for 5 s)`);
  });

  it("waits while a record is missing, and is over once it is made", async () => {
    const said: string[] = [];
    let made = false;
    const waiting = waitForDns(config(dnsPort), inventory, {
      deadlineMs: 60_000,
      log: (l) => {
        said.push(l);
        // The user reads which record is missing, and makes it (and deletes the AAAA one).
        if (!made && l.includes("www.elm-lang.org: no A record")) {
          made = true;
          void manage("clear-aaaa", { host: "www.elm-lang.org" }).then(() =>
            manage("add-a", { host: "www.elm-lang.org", addresses: [lb] }),
          );
        }
      },
    });
    await waiting;
    expect(made).toBe(true);
    expect(said.at(-1)).toBe(
      `DNS points elm-lang.org, www.elm-lang.org at ${lb} (asked 127.0.0.1:${dnsPort})`,
    );
  });
});
