import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  fingerprintOf,
  formatKnownHostLine,
  hostFieldMatches,
  knownHostName,
  parseKnownHosts,
  presentedHostKey,
  verifyHostKey,
} from "../../../src/ssh/known-hosts.js";

function keyBlob(type: string, body: string): Buffer {
  const typeBuf = Buffer.from(type, "ascii");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(typeBuf.length);
  return Buffer.concat([len, typeBuf, Buffer.from(body)]);
}
const keyA = presentedHostKey(keyBlob("ssh-ed25519", "aaaa"));
const keyB = presentedHostKey(keyBlob("ssh-ed25519", "bbbb"));
const rsa = presentedHostKey(keyBlob("rsa-sha2-512", "rrrr"));

function hashed(name: string, salt = Buffer.from("0123456789abcdefghij")): string {
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

describe("parseKnownHosts", () => {
  it("reads hosts, key type, key and line number; skips comments, blanks and short lines", () => {
    const text = [
      "# pinned by elm-infra",
      "",
      `10.0.0.2 ${keyA.keyType} ${keyA.keyBase64}`,
      "broken-line",
      `@revoked * ${keyB.keyType} ${keyB.keyBase64} comment`,
    ].join("\n");
    expect(parseKnownHosts(text)).toEqual([
      { hosts: "10.0.0.2", keyType: "ssh-ed25519", keyBase64: keyA.keyBase64, line: 3 },
      { marker: "revoked", hosts: "*", keyType: "ssh-ed25519", keyBase64: keyB.keyBase64, line: 5 },
    ]);
  });
});

describe("knownHostName", () => {
  it.each([
    ["10.0.0.2", 22, "10.0.0.2"],
    ["10.0.0.2", 2222, "[10.0.0.2]:2222"],
    ["example.org", undefined, "example.org"],
  ])("%s port %s -> %s", (host, port, name) => {
    expect(knownHostName(host, port)).toBe(name);
  });
});

describe("hostFieldMatches", () => {
  it.each([
    ["10.0.0.2", "10.0.0.2", true],
    ["10.0.0.2", "10.0.0.20", false],
    ["a.example,10.0.0.2", "10.0.0.2", true],
    ["10.0.0.*", "10.0.0.7", true],
    ["10.0.0.?", "10.0.0.17", false],
    ["10.0.0.*,!10.0.0.9", "10.0.0.9", false],
    ["[10.0.0.2]:2222", "[10.0.0.2]:2222", true],
    ["[10.0.0.2]:2222", "10.0.0.2", false],
    ["Host.Example", "host.example", true],
    [hashed("10.0.0.2"), "10.0.0.2", true],
    [hashed("10.0.0.2"), "10.0.0.3", false],
  ])("%s vs %s -> %s", (field, name, expected) => {
    expect(hostFieldMatches(field, name)).toBe(expected);
  });
});

describe("verifyHostKey", () => {
  const file = parseKnownHosts(
    [
      formatKnownHostLine("10.0.0.2", keyA),
      formatKnownHostLine("[10.0.0.3]:2222", keyB),
      `@cert-authority *.example ${keyB.keyType} ${keyB.keyBase64}\n`,
      `@revoked 10.0.0.9 ${rsa.keyType} ${rsa.keyBase64}\n`,
    ].join(""),
  );
  it("matches the pinned key", () => {
    expect(verifyHostKey(file, "10.0.0.2", keyA)).toMatchObject({
      kind: "match",
      entry: { line: 1 },
    });
  });
  it("reports a different key for a pinned host as a mismatch, with what was pinned", () => {
    const verdict = verifyHostKey(file, "10.0.0.2", keyB);
    expect(verdict).toMatchObject({ kind: "mismatch", pinned: [{ line: 1 }] });
  });
  it("reports another key type for a pinned host as a mismatch too", () => {
    expect(verifyHostKey(file, "10.0.0.2", rsa).kind).toBe("mismatch");
  });
  it("keeps ports apart", () => {
    expect(verifyHostKey(file, "10.0.0.3", keyB).kind).toBe("unknown");
    expect(verifyHostKey(file, "[10.0.0.3]:2222", keyB).kind).toBe("match");
  });
  it("ignores certificate-authority lines", () => {
    expect(verifyHostKey(file, "a.example", keyB).kind).toBe("unknown");
  });
  it("refuses a revoked key", () => {
    expect(verifyHostKey(file, "10.0.0.9", rsa).kind).toBe("revoked");
  });
  it("treats an empty file as unknown", () => {
    expect(verifyHostKey(parseKnownHosts(""), "10.0.0.2", keyA)).toEqual({ kind: "unknown" });
  });
});

describe("presentedHostKey and fingerprintOf", () => {
  it("reads the key type from the blob", () => {
    expect(keyA.keyType).toBe("ssh-ed25519");
    expect(Buffer.from(keyA.keyBase64, "base64").equals(keyBlob("ssh-ed25519", "aaaa"))).toBe(true);
  });
  it("rejects a truncated blob", () => {
    expect(() => presentedHostKey(Buffer.from([0, 0, 0, 50, 1]))).toThrow(/bad type/);
  });
  it("formats OpenSSH's SHA256 fingerprint without padding", () => {
    expect(fingerprintOf(keyA.keyBase64)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
