import { describe, expect, it } from "vitest";
import {
  authorizedSshKeys,
  sshKeyMaterial,
  sshPublicKeyProblem,
} from "../../../src/config/ssh-public-key.js";
import { judgeSshKey } from "../../../src/plan/ssh-access.js";

const ed25519 =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONCFPtrQHgZ3PFWuSLJRFzMMI14pJNUZOHrjqvungpV ada@laptop";
const ecdsa =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBB5ICKlGV/m5Q/kWC1FmikXrNTINToQoEbv9AstaaeU6v6XiZ4K9gDlbv4xPQyQWYDSF6b3oIp8H7a9Ion/8m24= bob";
const rsa =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDGJcy32ooTIis+I/WvfaKwQDN3CmzXSfCFKn0YiPRIRLI/lpUtj1XF8A1yi5KRf1WBT7tppWm7DDgpYBJD50N8Qz7yD1U0ExNaPCsSEXykUghS9EPlXEM0gk6mA9YvfaoCodzJ9w5xSBjoHPA8KtwWhS+mgPa16WRvnaz/SMWXQQ== ci";
const targetKey =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFsnXa2bGu3Fkx0AYbxFaBj6jB9lfCW6b4YeWDJz1J9S elm-infra prod";

describe("sshPublicKeyProblem", () => {
  it.each([
    ["ed25519", ed25519],
    ["ecdsa", ecdsa],
    ["rsa", rsa],
    ["without a comment", sshKeyMaterial(ed25519)],
    ["with a trailing newline", `${ed25519}\n`],
  ])("takes an OpenSSH public key line: %s", (_what, line) => {
    expect(sshPublicKeyProblem(line)).toBeNull();
  });

  it.each([
    [
      "a private key",
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
      /is a private key/,
    ],
    ["a PEM private key", "-----BEGIN RSA PRIVATE KEY-----", /is a private key/],
    [
      "an age recipient",
      "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
      /one OpenSSH public key line/,
    ],
    ["an unknown type", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", /one OpenSSH public key line/],
    ["a type without its key", "ssh-ed25519", /one OpenSSH public key line/],
    ["two lines", `${ed25519}\n${ecdsa}`, /one OpenSSH public key line/],
    [
      "a key of another type than it says",
      `ssh-rsa ${ed25519.split(" ")[1]!}`,
      /not a ssh-rsa key/,
    ],
    ["a key that is not base64", "ssh-ed25519 AAAA!!!!", /not a ssh-ed25519 key/],
  ])("refuses %s", (_what, line, message) => {
    expect(sshPublicKeyProblem(line)).toMatch(message);
  });

  it("never repeats the text it was given", () => {
    const body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
    for (const line of [`-----BEGIN OPENSSH PRIVATE KEY-----\n${body}`, `ssh-rsa ${body}`])
      expect(sshPublicKeyProblem(line)).not.toContain(body);
  });
});

describe("authorizedSshKeys", () => {
  it.each([
    ["no operators: the target's key alone", undefined, [targetKey]],
    [
      "the target's key first, then each operator's, named",
      [
        { name: "ada", ageRecipient: "age1x", sshKey: ed25519 },
        { name: "ci", ageRecipient: "age1y" },
        { name: "bob", ageRecipient: "age1z", sshKey: ecdsa },
      ],
      [
        targetKey,
        `${sshKeyMaterial(ed25519)} elm-infra operator ada`,
        `${sshKeyMaterial(ecdsa)} elm-infra operator bob`,
      ],
    ],
    [
      "a key listed twice, or the target's own, once",
      [
        { name: "ada", ageRecipient: "age1x", sshKey: ed25519 },
        { name: "ada2", ageRecipient: "age1y", sshKey: `${sshKeyMaterial(ed25519)} other` },
        { name: "self", ageRecipient: "age1z", sshKey: targetKey },
      ],
      [targetKey, `${sshKeyMaterial(ed25519)} elm-infra operator ada`],
    ],
  ])("%s", (_what, operators, expected) => {
    expect(authorizedSshKeys(`${targetKey}\n`, { operators })).toEqual(expected);
  });
});

describe("judgeSshKey: the local target's key pair at bring-up and scale", () => {
  const refused = { kind: "refuse", why: expect.stringContaining("another operator") };
  it.each([
    // targetPrivate, targetPublic, operatorKey: decision
    [false, false, false, { kind: "make" }],
    // the first bring-up, by an operator who also has a key of their own: the target's is made
    [false, false, true, { kind: "make" }],
    [true, true, false, { kind: "use", loginWith: "target" }],
    [true, true, true, { kind: "use", loginWith: "operator" }],
    // the public half is the store's: never a new pair (it would replace every host)
    [false, true, true, { kind: "use", loginWith: "operator" }],
    [false, true, false, refused],
    // a lost public half: the target's key is used, and OpenTofu's step says what is missing
    [true, false, false, { kind: "use", loginWith: "target" }],
  ])(
    "private %s, public %s, operator's key %s",
    (targetPrivate, targetPublic, operatorKey, want) => {
      expect(judgeSshKey({ targetPrivate, targetPublic, operatorKey })).toEqual(want);
    },
  );
});
