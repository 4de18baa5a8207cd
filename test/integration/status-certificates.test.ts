/**
 * status's certificates section against a real Nomad (ACLs enforced): a certs/<name> variable as
 * the issuer writes it (cert chain, private key, domains) is read into its facts (names, issuer,
 * serial, validity) without the key reaching what status returns, prints or --check says; a
 * missing variable is "not issued yet"; a token that may not read certs/ gets the refusal as the
 * reason, not a crash.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCertificates, readCertificates } from "../../src/commands/status.js";
import { request } from "undici";
import { NomadClient } from "../../src/nomad/client.js";
import { releaseStaleIssuerLock } from "../../src/tasks/acme.js";
import { certificateProblems } from "../../src/plan/verify.js";
import { startConsul, startNomad, type ConsulAgent, type NomadAgent } from "../harness/agents.js";

let consul: ConsulAgent;
let nomad: NomadAgent;
let management: NomadClient;
let managementToken: string;
let noVariables: NomadClient;
const dir = mkdtempSync(join(tmpdir(), "httpsclients-status-"));
const chain = readFileSync(new URL("../fixtures/certificates/chain.pem", import.meta.url), "utf8");
let key: string;
/** The key's base64 body, as the secrets audit looks for it. */
let keyBody: string;

const specs = [
  {
    service: "elm-lang-org",
    name: "elm-lang-org",
    domains: ["elm-lang.org", "www.elm-lang.org"],
  },
  { service: "package", name: "package", domains: ["package.elm-lang.org"] },
];

beforeAll(async () => {
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem"], { cwd: dir, stdio: "pipe" }); // prettier-ignore
  key = readFileSync(join(dir, "k.pem"), "utf8");
  keyBody = key
    .split("\n")
    .filter((l) => l && !l.startsWith("-----"))
    .join("");
  consul = await startConsul();
  nomad = await startNomad({ consul, acl: true });
  const boot = await new NomadClient({ address: nomad.http }).aclBootstrap();
  managementToken = boot.SecretID;
  management = new NomadClient({ address: nomad.http, token: boot.SecretID });
  await management.upsertPolicy("nodes-only", 'node { policy = "read" }');
  const token = await management.createToken("status-without-variables", ["nodes-only"]);
  noVariables = new NomadClient({ address: nomad.http, token: token.SecretID });
  // A server that just started refuses variables until its keyring exists ("keyring has not been
  // initialized yet"): the write is tried again, a few times, half a second apart.
  for (let attempt = 1; ; attempt++) {
    try {
      await management.writeVariable("certs/elm-lang-org", {
        cert: chain,
        key,
        domains: "elm-lang.org,www.elm-lang.org",
      });
      break;
    } catch (error) {
      if (attempt >= 60 || !/keyring has not been initialized/.test(String(error))) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}, 300_000);

afterAll(async () => {
  await nomad?.stop();
  await consul?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("status's certificates, read from Nomad variables", () => {
  it("reads the stored certificate's facts and says the missing one, never the key", async () => {
    const certificates = await readCertificates(management, specs);
    expect(certificates).toEqual([
      {
        variable: "certs/elm-lang-org",
        service: "elm-lang-org",
        wanted: ["elm-lang.org", "www.elm-lang.org"],
        stored: {
          domains: ["elm-lang.org", "www.elm-lang.org"],
          issuer: "httpsclients CA",
          serial: "56D9D41328CE20024632FCDBE94B16405C4D0C6F",
          notBefore: "2026-11-24T09:07:49.000Z",
          notAfter: "2027-02-22T09:07:49.000Z",
        },
      },
      { variable: "certs/package", service: "package", wanted: ["package.elm-lang.org"] },
    ]);
    const problems = certificateProblems(certificates, new Date("2027-02-20T00:00:00Z"));
    expect(problems.map((p) => p.detail)).toEqual([
      "expires at 2027-02-22T09:07:49.000Z (2 days left): the issuer has not renewed it",
      "not issued yet: no Nomad variable certs/package",
    ]);
    for (const said of [
      JSON.stringify(certificates),
      formatCertificates(certificates),
      JSON.stringify(problems),
    ]) {
      expect(said).not.toContain(keyBody.slice(0, 40));
      expect(said).not.toContain("PRIVATE KEY");
    }
  });

  it("says a token that may not read certs/ as the certificate's reason", async () => {
    const [stored] = await readCertificates(noVariables, specs.slice(0, 1));
    expect(stored?.stored).toEqual({
      unreadable: expect.stringMatching(
        /^cannot be read: Nomad refused GET \/v1\/var\/certs\/elm-lang-org: permission denied/,
      ),
    });
  });

  it("the issuers' lock held by an allocation that no longer runs is given back (a management token reads its id); a free lock is left alone", async () => {
    const said: string[] = [];
    const log = (line: string) => said.push(line);
    await releaseStaleIssuerLock(management, log);
    expect(said).toEqual([]);
    // Taken as an issuer takes it, for an allocation Nomad does not run (its host was lost).
    const gone = "0b5e55ed-0000-4000-8000-000000000000";
    const acquired = await request(`${nomad.http}/v1/var/acme/lock?lock-acquire`, {
      method: "PUT",
      headers: { "X-Nomad-Token": managementToken },
      body: JSON.stringify({
        Path: "acme/lock",
        Items: { holder: gone },
        Lock: { TTL: "150s", LockDelay: "5s" },
      }),
    });
    expect(acquired.statusCode).toBe(200);
    await acquired.body.dump();
    expect((await management.readVariable("acme/lock"))?.Lock?.ID).toMatch(/^[0-9a-f-]{36}$/);
    await releaseStaleIssuerLock(management, log);
    expect(said).toEqual([
      "gave back the issuers' lock acme/lock: its holder 0b5e55ed no longer runs",
    ]);
    expect((await management.readVariable("acme/lock"))?.Lock?.ID).toBeUndefined();
  });
});
