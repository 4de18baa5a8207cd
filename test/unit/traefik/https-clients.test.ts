// The HTTPS clients' pure decisions: what a refused certificate is called (the codes Node's TLS
// gives), and where the probe enters a target that serves HTTPS. The real handshakes are proven
// against Traefik in test/integration/https-clients.test.ts.
import { describe, expect, it } from "vitest";
import { probeUrl } from "../../../src/commands/probe.js";
import {
  CertificateError,
  certificateFailure,
  classifyTransportError,
  describeTransportFailure,
} from "../../../src/http.js";
import { hostnameRedirects } from "../../../src/tasks/rollout.js";
import { redirectsTo } from "../../../src/traefik/verify.js";

const tlsError = (code: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`tls: ${code}`), { code, ...extra });

describe("certificateFailure", () => {
  it.each([
    ["Traefik's default certificate", tlsError("DEPTH_ZERO_SELF_SIGNED_CERT"), "self-signed"],
    [
      "a leaf from an unknown CA",
      tlsError("UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
      "issued by a CA the client does not trust",
    ],
    [
      "a chain ending in an untrusted root",
      tlsError("SELF_SIGNED_CERT_IN_CHAIN"),
      "issued under a root the client does not trust",
    ],
    [
      "a name mismatch says the certificate's names",
      tlsError("ERR_TLS_CERT_ALTNAME_INVALID", {
        reason: "Host: a.test. is not in the cert's altnames: DNS:b.test, DNS:www.b.test",
      }),
      "not for this name (it is for DNS:b.test, DNS:www.b.test)",
    ],
    ["expired", tlsError("CERT_HAS_EXPIRED"), "expired"],
    [
      "wrapped in a cause",
      new TypeError("fetch failed", { cause: tlsError("CERT_NOT_YET_VALID") }),
      "not valid yet",
    ],
    ["a refused connection is none", tlsError("ECONNREFUSED"), undefined],
    ["nothing", undefined, undefined],
  ])("%s", (_what, error, reason) => {
    expect(certificateFailure(error)).toBe(reason);
  });

  it("is said with the hostname, where, why and what is trusted", () => {
    const e = new CertificateError(
      "Traefik's entrypoint",
      "127.0.0.1:443 on local-worker-1 (through SSH)",
      "elm-lang.org",
      "self-signed",
      { source: "the CA certificates in /x/ca.pem" },
    );
    expect(e.message).toBe(
      "Traefik's entrypoint at 127.0.0.1:443 on local-worker-1 (through SSH) presented a certificate for elm-lang.org that does not verify: self-signed",
    );
    expect(e.hint).toMatch(/^the client trusts the CA certificates in \/x\/ca\.pem;/);
  });
});

describe("a TLS handshake that fails before any certificate", () => {
  it("is its own transport failure, said as such", () => {
    expect(classifyTransportError(tlsError("ERR_SSL_WRONG_VERSION_NUMBER"))).toBe("tls-handshake");
    expect(classifyTransportError(tlsError("EPROTO"))).toBe("tls-handshake");
    expect(certificateFailure(tlsError("ERR_SSL_WRONG_VERSION_NUMBER"))).toBeUndefined();
    expect(
      describeTransportFailure("Traefik's entrypoint", "127.0.0.1:1", "tls-handshake", 1),
    ).toBe(
      "Traefik's entrypoint at 127.0.0.1:1 did not complete a TLS handshake: it may not serve HTTPS there",
    );
  });
});

describe("probeUrl: where the probe enters a target", () => {
  const local = { provider: "local" as const, ports: { http: 18080, https: 18443, ssh: 2200 } };
  const inventory = (host: string) => ({
    target: "t",
    hosts: [],
    loadBalancer: { host, httpPort: 80, httpsPort: 443 },
  });
  it.each([
    [
      "dev agents stay plain HTTP",
      { ...local, endpoints: { entrypoint: "http://127.0.0.1:9080" } },
      inventory("127.0.0.1"),
      "http://127.0.0.1:9080",
    ],
    ["the load balancer's https port", local, inventory("127.0.0.1"), "https://127.0.0.1:443"],
    ["an IPv6 load balancer", local, inventory("2001:db8::7"), "https://[2001:db8::7]:443"],
    ["the local target before its inventory", local, undefined, "https://127.0.0.1:18443"],
    [
      "a DigitalOcean target never brought up: none",
      { ...local, provider: "digitalocean" as const },
      undefined,
      undefined,
    ],
  ])("%s", (_what, target, inv, url) => {
    expect(probeUrl({ target: target as never }, inv)).toBe(url);
  });
});

describe("deploy's proof of www. redirects", () => {
  it("expects www. to redirect to its apex on HTTPS targets only", () => {
    const hostnames = ["elm-lang.org", "www.elm-lang.org", "www.other.org"];
    expect(hostnameRedirects({}, hostnames)).toEqual({ "www.elm-lang.org": "elm-lang.org" });
    expect(hostnameRedirects({ endpoints: {} as never }, hostnames)).toEqual({});
  });

  it.each([
    [308, "https://elm-lang.org/health", true],
    [301, "https://elm-lang.org/", true],
    [308, "http://elm-lang.org/health", false],
    [308, "https://www.elm-lang.org/health", false],
    [200, "https://elm-lang.org/health", false],
    [308, undefined, false],
    [308, "not a url", false],
  ])("%d to %s: %s", (status, location, ok) => {
    expect(redirectsTo({ status, ...(location ? { location } : {}) }, "elm-lang.org")).toBe(ok);
  });
});
