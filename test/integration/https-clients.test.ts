/**
 * The HTTPS clients against a real Traefik: its websecure entrypoint serves a certificate for
 * site.test, signed by a test CA made here with the openssl CLI, from its file provider (also as
 * its default certificate, so a request naming another host gets it too), and www.site.test
 * redirects to it as the HTTPS targets' www. hostnames do. Deploy's proof
 * (TraefikClient through verifyHostnamesServe) and the probe are answered when that CA is the one
 * trusted, and refused with a message naming the hostname, the worker and why when another CA is
 * trusted or the SNI names a host the certificate is not for.
 */
import { execFileSync, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateError, type TlsTrust } from "../../src/http.js";
import { TraefikClient } from "../../src/traefik/client.js";
import { certificateFacts } from "../../src/plan/verify.js";
import { runProbe } from "../../src/traefik/probe.js";
import { servedCertificate } from "../../src/traefik/served-certificate.js";
import { verifyHostnamesServe } from "../../src/traefik/verify.js";
import { toolPath, waitFor } from "../harness/agents.js";
import { freePorts } from "../harness/ports.js";

const dir = mkdtempSync(join(tmpdir(), "httpsclients-"));
const file = (name: string) => join(dir, name);
let backend: Server;
let traefikPid: number | undefined;
let entrypoint: string;
/** The backend: plain HTTP, where an HTTPS client gets no handshake. */
let plainHttp: string;
let trusted: TlsTrust;
let otherCa: TlsTrust;
const hostsSeen = new Set<string>();
/** How messages name the entrypoint, as deploy's tunnel to a worker does. */
const where = "127.0.0.1:443 on test-worker-1 (through SSH)";

const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** A CA (key and self-signed certificate) named `name`. */
function makeCa(name: string): void {
  openssl(
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "1", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
  ); // prettier-ignore
}

beforeAll(async () => {
  makeCa("test-ca");
  makeCa("other-ca");
  openssl(
    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", "site.key", "-out", "site.csr", "-subj", "/CN=site.test",
  ); // prettier-ignore
  writeFileSync(file("site.ext"), "subjectAltName=DNS:site.test,DNS:www.site.test\n");
  openssl(
    "x509", "-req", "-in", "site.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key",
    "-CAcreateserial", "-out", "site.pem", "-days", "1", "-extfile", "site.ext",
  ); // prettier-ignore
  trusted = { ca: readFileSync(file("test-ca.pem"), "utf8"), source: "the test CA" };
  otherCa = { ca: readFileSync(file("other-ca.pem"), "utf8"), source: "another CA" };

  backend = createServer((req, res) => {
    hostsSeen.add(String(req.headers.host));
    res.writeHead(200, { "X-Elm-Version": "1.0.0", "content-type": "text/plain" });
    res.end("ok\n");
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const backendPort = (backend.address() as AddressInfo).port;

  const [websecure, api] = (await freePorts(2)) as [number, number];
  const certificate = { certFile: file("site.pem"), keyFile: file("site.key") };
  // JSON is YAML: Traefik reads both files by their extension.
  writeFileSync(
    file("dynamic.yml"),
    JSON.stringify({
      http: {
        routers: {
          site: {
            rule: "Host(`site.test`)",
            entryPoints: ["websecure"],
            service: "site",
            tls: {},
          },
          www: {
            rule: "Host(`www.site.test`)",
            entryPoints: ["websecure"],
            middlewares: ["to-apex"],
            service: "site",
            tls: {},
          },
        },
        middlewares: {
          "to-apex": {
            redirectRegex: {
              regex: "^https?://www\\.(.+)",
              replacement: "https://${1}",
              permanent: true,
            },
          },
        },
        services: {
          site: { loadBalancer: { servers: [{ url: `http://127.0.0.1:${backendPort}` }] } },
        },
      },
      tls: {
        certificates: [certificate],
        stores: { default: { defaultCertificate: certificate } },
      },
    }),
  );
  writeFileSync(
    file("traefik.yml"),
    JSON.stringify({
      global: { checkNewVersion: false, sendAnonymousUsage: false },
      entryPoints: {
        websecure: { address: `127.0.0.1:${websecure}` },
        traefik: { address: `127.0.0.1:${api}` },
      },
      api: { insecure: true, dashboard: false },
      ping: { entryPoint: "traefik" },
      log: { level: "INFO" },
      providers: { file: { filename: file("dynamic.yml") } },
    }),
  );
  const child = spawn(toolPath("traefik"), [`--configFile=${file("traefik.yml")}`], {
    cwd: dir,
    stdio: "ignore",
    detached: true,
  });
  child.unref();
  traefikPid = child.pid;
  entrypoint = `https://127.0.0.1:${websecure}`;
  plainHttp = `127.0.0.1:${backendPort}`;
  // Ready when the router answers through TLS (the file provider has loaded the certificate).
  const client = new TraefikClient({
    api: `http://127.0.0.1:${api}`,
    entrypoint,
    entrypointTls: trusted,
  });
  await waitFor(
    "Traefik to serve site.test over TLS",
    async () => (await client.probe("site.test", "/").catch(() => undefined))?.status === 200,
    { timeoutMs: 20_000 },
  );
}, 60_000);

afterAll(async () => {
  if (traefikPid) {
    try {
      process.kill(-traefikPid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  await new Promise((r) => backend?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const client = (tls: TlsTrust) =>
  new TraefikClient({
    api: "http://127.0.0.1:1",
    entrypoint,
    entrypointTls: tls,
    where: { api: "unused", entrypoint: where },
    deadlineMs: 3000,
  });

describe("deploy's proof through Traefik's websecure entrypoint", () => {
  it("is answered over TLS when the certificate's CA is the one trusted, with the Host as SNI", async () => {
    const answer = await client(trusted).probe("site.test", "/health");
    expect(answer).toMatchObject({ status: 200, version: "1.0.0" });
    expect(hostsSeen).toContain("site.test");
    const said: string[] = [];
    await verifyHostnamesServe(
      client(trusted),
      {
        hostnames: ["site.test", "www.site.test"],
        healthPath: "/health",
        version: "1.0.0",
        redirects: { "www.site.test": "site.test" },
      },
      { timeoutMs: 5000, signal: new AbortController().signal, onProgress: (l) => said.push(l) },
    );
    expect(said).toEqual(["site.test serves 1.0.0", "www.site.test redirects to site.test"]);
  });

  it("refuses a certificate from a CA it does not trust, naming the hostname, the worker and why", async () => {
    const error = await client(otherCa)
      .probe("site.test", "/health")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CertificateError);
    expect((error as CertificateError).message).toBe(
      `Traefik's entrypoint at ${where} presented a certificate for site.test that does not verify: issued by a CA the client does not trust`,
    );
    expect((error as CertificateError).hint).toContain("the client trusts another CA");
  });

  it("refuses the certificate when the SNI names a host it is not for", async () => {
    const error = await client(trusted)
      .probe("elsewhere.test", "/health")
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `Traefik's entrypoint at ${where} presented a certificate for elsewhere.test that does not verify: not for this name (it is for DNS:site.test, DNS:www.site.test)`,
    );
  });

  it("fails verifyHostnamesServe at its deadline with the certificate's reason and hint", async () => {
    const error = await verifyHostnamesServe(
      client(otherCa),
      { hostnames: ["site.test"], healthPath: "/health", version: "1.0.0" },
      { timeoutMs: 1500, signal: new AbortController().signal },
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `site.test does not serve 1.0.0 through Traefik: Traefik's entrypoint at ${where} presented a certificate for site.test that does not verify: issued by a CA the client does not trust`,
    );
    expect((error as CertificateError).hint).toContain("elm-infra status lists");
  });
});

describe("servedCertificate: what a worker presents for a name", () => {
  it("is the certificate Traefik serves for the SNI, verified; refused from an untrusted CA", async () => {
    const port = Number(new URL(entrypoint).port);
    const pem = await servedCertificate({
      host: "127.0.0.1",
      port,
      servername: "site.test",
      trust: trusted,
    });
    const serial = openssl("x509", "-in", "site.pem", "-noout", "-serial").toString().trim();
    expect(`serial=${certificateFacts(pem).serial}`).toBe(serial);
    expect(certificateFacts(pem).domains).toEqual(["site.test", "www.site.test"]);
    const error = await servedCertificate({
      host: "127.0.0.1",
      port,
      servername: "site.test",
      trust: otherCa,
      name: "Traefik on test-worker-1",
      where,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `Traefik on test-worker-1 at ${where} presented a certificate for site.test that does not verify: issued by a CA the client does not trust`,
    );
  });
});

describe("HTTPS spoken to a port that serves plain HTTP", () => {
  it("is said as a failed TLS handshake by the proof and by the probe", async () => {
    const proof = new TraefikClient({
      api: "http://127.0.0.1:1",
      entrypoint: `https://${plainHttp}`,
      entrypointTls: trusted,
      where: { api: "unused", entrypoint: where },
    });
    const error = await proof.probe("site.test", "/ping").catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `Traefik's entrypoint at ${where} did not complete a TLS handshake: it may not serve HTTPS there`,
    );
    const r = await runProbe({
      url: `https://${plainHttp}`,
      hostname: "site.test",
      ca: trusted.ca!,
      ratePerSecond: 10,
      seconds: 0.5,
    });
    expect(r.failures[0]?.what).toBe("connection error: TLS handshake failed");
    expect(r.connectionErrors).toBe(r.sent);
  });
});

describe("the probe over HTTPS", () => {
  it("counts every answer when the CA is trusted", async () => {
    const r = await runProbe({
      url: entrypoint,
      hostname: "site.test",
      ca: trusted.ca!,
      ratePerSecond: 10,
      seconds: 1,
    });
    expect({ sent: r.sent, ok: r.ok, errors: r.connectionErrors }).toEqual({
      sent: 10,
      ok: 10,
      errors: 0,
    });
  });

  it("counts a certificate that does not verify as a connection error, with the reason", async () => {
    const r = await runProbe({
      url: entrypoint,
      hostname: "site.test",
      ca: otherCa.ca!,
      ratePerSecond: 10,
      seconds: 1,
    });
    expect({ sent: r.sent, ok: r.ok, errors: r.connectionErrors }).toEqual({
      sent: 10,
      ok: 0,
      errors: 10,
    });
    expect(r.failures[0]?.what).toBe(
      "connection error: certificate does not verify: issued by a CA the client does not trust",
    );
  });
});
