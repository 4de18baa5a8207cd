import { describe, expect, it } from "vitest";
import {
  ageIdentity,
  ageRecipient,
  bech32Decode,
  bech32Encode,
  isAgeIdentity,
} from "../../../src/plan/age.js";

/** A pair age-keygen 1.1.1 printed (`age-keygen`, then its "public key" comment). */
const fromAgeKeygen = {
  identity: "AGE-SECRET-KEY-1F3RQLQ6JNYTDH9LS3LELAQQDA4H0939UUEYAXUNJYR55KH5KU3SSZ7W00H",
  recipient: "age12mv9u72usm8x0xjj8q4skc33msu7nhaql44mhsyl0muza4tgp4fs0kdazr",
};

describe("age keys", () => {
  it("derives the recipient age-keygen printed for its identity", () => {
    expect(ageRecipient(fromAgeKeygen.identity)).toBe(fromAgeKeygen.recipient);
  });

  it("writes an identity as age-keygen does, and reads it back to the same bytes", () => {
    const secret = bech32Decode(fromAgeKeygen.identity).bytes;
    expect(ageIdentity(secret)).toBe(fromAgeKeygen.identity);
    const made = ageIdentity(new Uint8Array(32).fill(7));
    expect(made).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(isAgeIdentity(made)).toBe(true);
    expect(ageRecipient(made)).toMatch(/^age1[0-9a-z]{58}$/);
  });

  it("refuses what is not an identity: a changed character, a recipient, lower case, the wrong length", () => {
    const changed = `${fromAgeKeygen.identity.slice(0, -1)}J`;
    expect(isAgeIdentity(changed)).toBe(false);
    expect(isAgeIdentity(fromAgeKeygen.recipient)).toBe(false);
    expect(isAgeIdentity(fromAgeKeygen.identity.toLowerCase())).toBe(false);
    expect(isAgeIdentity(bech32Encode("age-secret-key-", new Uint8Array(16)).toUpperCase())).toBe(
      false,
    );
    expect(() => ageRecipient(changed)).toThrow(/checksum/);
    expect(() => ageIdentity(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});
