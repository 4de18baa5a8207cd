/**
 * age keys (https://age-encryption.org/v1), as age-keygen writes them: an X25519 identity
 * `AGE-SECRET-KEY-1...` and its recipient `age1...`, both Bech32. The cluster's snapshots are
 * encrypted to the recipient inside the cluster; the identity stays in the secrets file. Pure:
 * the random key comes from the caller.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const generator = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= generator[i]!;
  }
  return chk;
}

const hrpExpand = (hrp: string) => [
  ...[...hrp].map((c) => c.charCodeAt(0) >> 5),
  0,
  ...[...hrp].map((c) => c.charCodeAt(0) & 31),
];

function convertBits(data: Iterable<number>, from: number, to: number, pad: boolean): number[] {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (const value of data) {
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & max);
    }
  }
  if (pad && bits > 0) out.push((acc << (to - bits)) & max);
  else if (!pad && (bits >= from || ((acc << (to - bits)) & max) !== 0))
    throw new Error("bech32: bad padding");
  return out;
}

/** Bech32 (BIP 173, without its 90-character limit, as age uses it), lower case. */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const words = convertBits(bytes, 8, 5, true);
  const mod = polymod([...hrpExpand(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = Array.from({ length: 6 }, (_, i) => (mod >> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map((w) => charset[w]).join("")}`;
}

/** The human-readable part and bytes of a Bech32 string (either case, not mixed); throws when bad. */
export function bech32Decode(text: string): { hrp: string; bytes: Uint8Array } {
  if (text !== text.toLowerCase() && text !== text.toUpperCase())
    throw new Error("bech32: mixed case");
  const lower = text.toLowerCase();
  const split = lower.lastIndexOf("1");
  if (split < 1 || lower.length - split < 7) throw new Error("bech32: no separator or checksum");
  const hrp = lower.slice(0, split);
  const words = [...lower.slice(split + 1)].map((c) => {
    const w = charset.indexOf(c);
    if (w < 0) throw new Error(`bech32: invalid character ${JSON.stringify(c)}`);
    return w;
  });
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) throw new Error("bech32: bad checksum");
  return { hrp, bytes: Uint8Array.from(convertBits(words.slice(0, -6), 5, 8, false)) };
}

const identityHrp = "age-secret-key-";
const recipientHrp = "age";
/** DER prefixes of an X25519 private key (PKCS #8) and public key (SPKI), 32 raw bytes follow. */
const pkcs8X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const spkiLength = 44;

/** An age identity from 32 random bytes, as age-keygen prints it (upper case). */
export function ageIdentity(secret: Uint8Array): string {
  if (secret.length !== 32) throw new Error("an age identity is 32 bytes");
  return bech32Encode(identityHrp, secret).toUpperCase();
}

/** Is this an age X25519 identity (`AGE-SECRET-KEY-1...`, 32 bytes, a valid checksum)? */
export function isAgeIdentity(text: string): boolean {
  try {
    const { hrp, bytes } = bech32Decode(text);
    return hrp === identityHrp && bytes.length === 32 && text === text.toUpperCase();
  } catch {
    return false;
  }
}

/** The recipient (public key, `age1...`) of an identity: what the cluster encrypts to. */
export function ageRecipient(identity: string): string {
  const { hrp, bytes } = bech32Decode(identity);
  if (hrp !== identityHrp || bytes.length !== 32) throw new Error("not an age X25519 identity");
  const privateKey = createPrivateKey({
    key: Buffer.concat([pkcs8X25519, bytes]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  if (spki.length !== spkiLength) throw new Error("unexpected X25519 public key encoding");
  return bech32Encode(recipientHrp, spki.subarray(spkiLength - 32));
}
