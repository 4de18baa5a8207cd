// Let's Encrypt's staging roots. The committed PEMs are the published certificates (each one's
// SHA-256 fingerprint against the table recorded beside them); each target trusts the roots of
// the CA that issues its certificates; and the TLS check elm-infra makes (servedCertificate, as
// bring-up uses it) accepts a chain shaped like staging's (root → intermediate → leaf, the leaf
// and intermediate served) only under a root it trusts. The test chain is made here with the
// openssl CLI; its TLS server listens on 127.0.0.1.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { targetPaths } from "../../../src/cluster/paths.js";
import {
  letsEncryptStagingFolder,
  letsEncryptStagingRoots,
  targetTrust,
} from "../../../src/cluster/trust.js";
import type { LoadedConfig } from "../../../src/config/load.js";
import { parseCluster, parseYaml } from "../../../src/config/parse.js";
import { CertificateError } from "../../../src/http.js";
import { letsEncrypt, letsEncryptStaging } from "../../../src/plan/tls.js";
import { servedCertificate } from "../../../src/traefik/served-certificate.js";
import { uncommentBlock } from "../../support/cluster-yaml.js";

/** The fingerprints recorded in certificates/letsencrypt-staging/README.md, by file. */
function recordedFingerprints(): Map<string, { cn: string; sha256: string }> {
  const table = readFileSync(join(letsEncryptStagingFolder, "README.md"), "utf8");
  const rows = [...table.matchAll(/^\| `([^`]+\.pem)` \| ([^|]+) \|.*\| `([0-9a-f]{64})` \|$/gm)];
  return new Map(rows.map(([, file, cn, sha256]) => [file!, { cn: cn!.trim(), sha256: sha256! }]));
}

const sha256Of = (cert: X509Certificate) => cert.fingerprint256.replaceAll(":", "").toLowerCase();
const certificatesIn = (pem: string) =>
  (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );

describe("the committed staging roots", () => {
  const recorded = recordedFingerprints();
  const pems = readdirSync(letsEncryptStagingFolder).filter((f) => f.endsWith(".pem"));

  it("are the four the staging page names, X1 and X2 among them, and each has a recorded fingerprint", () => {
    expect([...recorded.values()].map((r) => r.cn)).toEqual([
      "(STAGING) Pretend Pear X1",
      "(STAGING) Bogus Broccoli X2",
      "(STAGING) Yearning Yucca Root YE",
      "(STAGING) Yonder Yam Root YR",
    ]);
    expect(pems.sort()).toEqual([...recorded.keys()].sort());
  });

  it.each([...recordedFingerprints()])(
    "%s: one self-signed CA certificate whose SHA-256 fingerprint is the recorded one",
    (file, { cn, sha256 }) => {
      const pem = readFileSync(join(letsEncryptStagingFolder, file), "utf8");
      const certs = certificatesIn(pem);
      expect(certs).toHaveLength(1);
      const cert = certs[0]!;
      expect(sha256Of(cert)).toBe(sha256);
      expect(cert.subject).toContain(`CN=${cn}`);
      expect(cert.ca).toBe(true);
      expect(cert.checkIssued(cert) && cert.verify(cert.publicKey)).toBe(true);
    },
  );
});

describe("the CAs each target trusts (targetTrust)", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "elm-infra-trust-"));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  // The repository's own cluster.yaml, its rehearsal target uncommented as a user would.
  const cluster = parseCluster(
    parseYaml(
      uncommentBlock(
        readFileSync(new URL("../../../cluster.yaml", import.meta.url), "utf8"),
        "rehearsal",
      ),
      "cluster.yaml",
    ),
    "cluster.yaml",
  );
  function configFor(targetName: string, acme?: { directory: string }): LoadedConfig {
    const target = { ...cluster.targets[targetName]!, ...(acme ? { acme } : {}) };
    return {
      root,
      file: join(root, "cluster.yaml"),
      cluster,
      targetName,
      target,
      secrets: {},
      services: cluster.services,
    };
  }
  const fingerprintsOf = (pem: string | undefined) => certificatesIn(pem ?? "").map(sha256Of);
  const staging = () => [...recordedFingerprints().values()].map((r) => r.sha256);

  it("a DigitalOcean target not named production (staging CA): the staging roots, and nothing else", async () => {
    const trust = await targetTrust(configFor("rehearsal"));
    expect(fingerprintsOf(trust.ca).sort()).toEqual(staging().sort());
    expect(trust.source).toMatch(/^Let's Encrypt's staging roots \(.*letsencrypt-staging/);
  });

  it("production (Let's Encrypt): the system's roots", async () => {
    const trust = await targetTrust(configFor("production"));
    expect(trust).toEqual({ source: "the system's root CAs" });
  });

  it("follows acme.directory, not the name: production pointed at staging trusts the staging roots, a rehearsal pointed at Let's Encrypt the system's", async () => {
    const onStaging = await targetTrust(configFor("production", { directory: letsEncryptStaging }));
    expect(fingerprintsOf(onStaging.ca).sort()).toEqual(staging().sort());
    const onProduction = await targetTrust(configFor("rehearsal", { directory: letsEncrypt }));
    expect(onProduction.ca).toBeUndefined();
  });

  it("local (Pebble): the roots bring-up wrote to .elm-infra/<target>/ca.pem", async () => {
    const local = configFor("local");
    // Any PEM stands in for Pebble's root: a test CA's chain from the fixtures.
    const pebbleRoot = readFileSync(
      new URL("../../fixtures/certificates/chain.pem", import.meta.url),
      "utf8",
    );
    const file = targetPaths(local).trustedCa;
    await mkdir(join(root, ".elm-infra", "local"), { recursive: true });
    await writeFile(file, pebbleRoot);
    expect(await targetTrust(local)).toEqual({
      ca: pebbleRoot,
      source: `the CA certificates in ${file}`,
    });
  });
});

describe("a chain like staging's through the TLS check bring-up makes (servedCertificate)", () => {
  const dir = mkdtempSync(join(tmpdir(), "elm-infra-chain-"));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const hostname = "elm-lang.org";
  let server: Server;
  let port: number;
  let testRoot: string;
  let leaf: X509Certificate;

  /** A key and a certificate for `cn`, signed by `issuer` (self-signed without one). */
  function issue(name: string, cn: string, extensions: string, issuer?: string): void {
    writeFileSync(file(`${name}.ext`), extensions);
    const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    if (!issuer) {
      openssl(
        "req", "-x509", ...key, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "1",
        "-subj", `/CN=${cn}`, "-extensions", "v3", "-config", `${name}.ext`,
      ); // prettier-ignore
      return;
    }
    openssl("req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    openssl(
      "x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`,
      "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`,
    ); // prettier-ignore
  }

  beforeAll(async () => {
    const ca = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
    issue("root", "(TEST) Rehearsal Root", `[req]\ndistinguished_name=dn\n[dn]\n[v3]\n${ca}`);
    issue("intermediate", "(TEST) Rehearsal Intermediate", ca, "root");
    issue(
      "leaf",
      hostname,
      `subjectAltName=DNS:${hostname}\nextendedKeyUsage=serverAuth\n`,
      "intermediate",
    );
    testRoot = readFileSync(file("root.pem"), "utf8");
    leaf = new X509Certificate(readFileSync(file("leaf.pem")));
    // As Let's Encrypt's chains are served: the leaf, then its intermediate; never the root.
    server = createServer({
      key: readFileSync(file("leaf.key")),
      cert: readFileSync(file("leaf.pem"), "utf8") + readFileSync(file("intermediate.pem"), "utf8"),
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const served = (ca: string) =>
    servedCertificate({
      host: "127.0.0.1",
      port,
      servername: hostname,
      trust: { ca, source: "the roots under test" },
    });

  it("accepts the leaf when its root is among the trusted ones (a bundle of several roots, as the staging one is)", async () => {
    const pem = await served((await letsEncryptStagingRoots()) + testRoot);
    expect(sha256Of(new X509Certificate(pem))).toBe(sha256Of(leaf));
  });

  it("refuses it when its root is not trusted: the staging roots alone do not vouch for another CA", async () => {
    const refused = await served(await letsEncryptStagingRoots()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CertificateError);
    expect((refused as CertificateError).message).toMatch(
      /certificate for elm-lang\.org that does not verify: issued by a CA the client does not trust/,
    );
  });
});
