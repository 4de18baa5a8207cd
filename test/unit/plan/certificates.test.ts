// status's certificates on an HTTPS target, pure: what a stored certificate says of itself (read
// with node:crypto from a PEM chain), what --check finds wrong, and how the section reads.
// test/fixtures/certificates/chain.pem: a leaf for elm-lang.org and www.elm-lang.org (90 days),
// then its CA "httpsclients CA", made with the openssl CLI; no key is kept.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatCertificates } from "../../../src/commands/status.js";
import {
  certificateFacts,
  certificateProblems,
  type CertificateFacts,
  type ObservedCertificate,
} from "../../../src/plan/verify.js";

const chain = readFileSync(
  new URL("../../fixtures/certificates/chain.pem", import.meta.url),
  "utf8",
);

describe("certificateFacts", () => {
  it("reads the leaf (first in the chain): its names, issuer CN, serial and validity", () => {
    expect(certificateFacts(chain)).toEqual({
      domains: ["elm-lang.org", "www.elm-lang.org"],
      issuer: "httpsclients CA",
      serial: "56D9D41328CE20024632FCDBE94B16405C4D0C6F",
      notBefore: "2026-11-24T09:07:49.000Z",
      notAfter: "2027-02-22T09:07:49.000Z",
    });
  });

  it("throws on text that holds no certificate", () => {
    expect(() => certificateFacts("not a certificate")).toThrow();
  });
});

const facts = (over: Partial<CertificateFacts> = {}): CertificateFacts => ({
  domains: ["elm-lang.org", "www.elm-lang.org"],
  issuer: "Pebble Intermediate CA 0a1b2c",
  serial: "0A1B",
  notBefore: "2026-11-24T09:00:00.000Z",
  notAfter: "2026-11-24T10:00:00.000Z",
  ...over,
});
const cert = (stored?: ObservedCertificate["stored"]): ObservedCertificate => ({
  variable: "certs/elm-lang-org",
  service: "elm-lang-org",
  wanted: ["elm-lang.org", "www.elm-lang.org"],
  ...(stored ? { stored } : {}),
});
const subject = "certificate certs/elm-lang-org (elm-lang.org, www.elm-lang.org)";

describe("certificateProblems (status --check)", () => {
  const at = (iso: string) => new Date(iso);
  it.each([
    ["a fresh certificate: nothing", cert(facts()), "2026-11-24T09:10:00Z", []],
    [
      "past renewal (a third left) but above a quarter: nothing yet",
      cert(facts()),
      "2026-11-24T09:44:00Z",
      [],
    ],
    [
      "under a quarter of its lifetime left: the issuer has not renewed it",
      cert(facts()),
      "2026-11-24T09:50:00Z",
      [
        {
          subject,
          detail:
            "expires at 2026-11-24T10:00:00.000Z (10 min left): the issuer has not renewed it",
        },
      ],
    ],
    [
      "expired",
      cert(facts()),
      "2026-11-24T10:00:01Z",
      [{ subject, detail: "expired at 2026-11-24T10:00:00.000Z" }],
    ],
    [
      "not issued yet",
      cert(),
      "2026-11-24T09:10:00Z",
      [{ subject, detail: "not issued yet: no Nomad variable certs/elm-lang-org" }],
    ],
    [
      "unreadable",
      cert({ unreadable: "certs/elm-lang-org has no cert item" }),
      "2026-11-24T09:10:00Z",
      [{ subject, detail: "certs/elm-lang-org has no cert item" }],
    ],
    [
      "a hostname it does not cover",
      cert(facts({ domains: ["elm-lang.org"] })),
      "2026-11-24T09:10:00Z",
      [{ subject, detail: "does not cover www.elm-lang.org" }],
    ],
  ])("%s", (_what, c, now, problems) => {
    expect(certificateProblems([c], at(now))).toEqual(problems);
  });
});

describe("formatCertificates", () => {
  it("says each certificate's names, issuer, serial and end, or why there is none", () => {
    expect(
      formatCertificates([
        cert(facts()),
        { ...cert(), variable: "certs/package", wanted: ["package.elm-lang.org"] },
        { ...cert({ unreadable: "cannot be read: permission denied" }), variable: "certs/x" },
      ]),
    ).toBe(
      [
        "certificates",
        "  certs/elm-lang-org: elm-lang.org, www.elm-lang.org; issuer Pebble Intermediate CA 0a1b2c; serial 0A1B; valid until 2026-11-24T10:00:00.000Z",
        "  certs/package: not issued yet (package.elm-lang.org)",
        "  certs/x: unreadable: cannot be read: permission denied",
      ].join("\n"),
    );
  });
});
