/**
 * The cluster secrets a target shares through its store (issue 23): only the ones elm-infra
 * generates (gossip keys, ACL tokens, the local registry's login, the snapshots' identity), never
 * the user's own (API tokens, the webhook), and only encrypted with age to every operator listed
 * in cluster.yaml. Pure: what to store, how it is wrapped, when to encrypt it again, and where
 * the operator's identity comes from.
 */
import type { Secrets, Target } from "../config/schema.js";
import { ageRecipient, bech32Decode, isAgeIdentity } from "./age.js";
import {
  clusterSecretFields,
  localRegistrySecretFields,
  snapshotSecretFields,
  type GeneratedSecretField,
} from "./secrets.js";

/** The object, under the target's prefix, that holds the encrypted secrets and their recipients. */
export const sharedSecretsKey = "secrets.age.json";

const sharedFields: readonly GeneratedSecretField[] = [
  ...clusterSecretFields,
  ...localRegistrySecretFields,
  ...snapshotSecretFields,
];

/**
 * What the store holds (once encrypted): the generated secrets. Stored in clear it would be
 * everything; these are the fields every operator needs and none can make up alone.
 */
export function sharedSecretsOf(secrets: Secrets): Partial<Record<GeneratedSecretField, string>> {
  const shared: Partial<Record<GeneratedSecretField, string>> = {};
  for (const field of sharedFields) {
    const value = secrets[field];
    if (typeof value === "string") shared[field] = value;
  }
  return shared;
}

/** True when a cluster secret is missing: the store (when there is one) is asked for them. */
export function lacksClusterSecrets(secrets: Secrets): boolean {
  return clusterSecretFields.some((field) => secrets[field] === undefined);
}

/** The recipients the secrets are encrypted to: every listed operator's, sorted, once each. */
export function operatorRecipients(target: Pick<Target, "operators">): string[] {
  return [...new Set((target.operators ?? []).map((o) => o.ageRecipient))].sort();
}

/**
 * The object's text: the recipients in clear (so a change of operators is seen without
 * decrypting) and the age ciphertext, ASCII-armored.
 */
export interface SecretsEnvelope {
  format: typeof envelopeFormat;
  recipients: string[];
  age: string;
}
const envelopeFormat = "elm-infra-secrets/1";

export function renderEnvelope(recipients: readonly string[], ciphertext: string): string {
  const envelope: SecretsEnvelope = {
    format: envelopeFormat,
    recipients: [...recipients],
    age: ciphertext,
  };
  return `${JSON.stringify(envelope, null, 2)}\n`;
}

/** The envelope in `text`, or the reason it is not one (said with the store's key). */
export function parseEnvelope(text: string): SecretsEnvelope | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "is not JSON" };
  }
  const v = value as Partial<SecretsEnvelope> | null;
  if (!v || typeof v !== "object" || v.format !== envelopeFormat)
    return { problem: `is not an ${envelopeFormat} object` };
  if (!Array.isArray(v.recipients) || !v.recipients.every((r) => typeof r === "string"))
    return { problem: "has no list of recipients" };
  if (typeof v.age !== "string" || !v.age.includes("BEGIN AGE ENCRYPTED FILE"))
    return { problem: "holds no age ciphertext" };
  return { format: envelopeFormat, recipients: v.recipients, age: v.age };
}

export type SecretsUpload =
  { upload: false; why: string } | { upload: true; why: string; recipients: string[] };

/**
 * Whether bring-up encrypts the secrets (again) and puts them in the store: when the store has
 * none, when this run changed any (generated, rotated, forgotten by destroy), or when the operators listed differ from the recipients the
 * stored copy was encrypted to (one added or removed: a removed one can still read the old copy,
 * so rotate the secrets too when someone leaves).
 */
export function judgeSecretsUpload(input: {
  stored: { recipients: readonly string[] } | undefined;
  recipients: readonly string[];
  changed: readonly string[];
}): SecretsUpload {
  const recipients = [...new Set(input.recipients)].sort();
  if (recipients.length === 0)
    return { upload: false, why: "no operator is listed: the secrets stay on this machine" };
  if (!input.stored) return { upload: true, why: "the store has none yet", recipients };
  if (input.changed.length > 0)
    return { upload: true, why: `changed now: ${input.changed.join(", ")}`, recipients };
  const before = [...new Set(input.stored.recipients)].sort();
  const added = recipients.filter((r) => !before.includes(r));
  const removed = before.filter((r) => !recipients.includes(r));
  if (added.length === 0 && removed.length === 0)
    return { upload: false, why: "already in the store, encrypted to every listed operator" };
  const change = [
    ...(added.length ? [`${added.length} operator(s) added`] : []),
    ...(removed.length ? [`${removed.length} removed`] : []),
  ].join(", ");
  return { upload: true, why: `re-encrypted: ${change}`, recipients };
}

/** The variables an operator's age identity comes from, in the order they are read. */
export const ageIdentityEnv = {
  key: "ELM_INFRA_AGE_IDENTITY",
  file: "ELM_INFRA_AGE_IDENTITY_FILE",
} as const;

export type AgeIdentitySource =
  | { kind: "key"; variable: string; text: string }
  | { kind: "file"; variable: string; path: string };

/** The identity itself (ELM_INFRA_AGE_IDENTITY) before a file of it; undefined when neither is set. */
export function ageIdentitySource(env: NodeJS.ProcessEnv): AgeIdentitySource | undefined {
  const key = env[ageIdentityEnv.key];
  if (key) return { kind: "key", variable: ageIdentityEnv.key, text: key };
  const path = env[ageIdentityEnv.file];
  if (path) return { kind: "file", variable: ageIdentityEnv.file, path };
  return undefined;
}

/** The operators whose ageRecipient is not a valid age X25519 recipient (its Bech32 checksum). */
export function badRecipients(target: Pick<Target, "operators">): number[] {
  return (target.operators ?? []).flatMap((o, i) => {
    try {
      const { hrp, bytes } = bech32Decode(o.ageRecipient);
      return hrp === "age" && bytes.length === 32 ? [] : [i];
    } catch {
      return [i];
    }
  });
}

/** The recipients of the X25519 identities (`AGE-SECRET-KEY-1...` lines) in an identity file's text. */
export function recipientsOfIdentity(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(isAgeIdentity)
    .map(ageRecipient);
}

/**
 * Why an identity could not read the store's secrets, and what to do: listed in cluster.yaml but
 * not yet among the recipients (an operator already listed re-encrypts them), or not listed.
 */
export function explainRefusedIdentity(input: {
  identityRecipients: readonly string[];
  listed: readonly string[];
  encryptedTo: readonly string[];
  where: string;
}): string {
  const listedNotYet = input.identityRecipients.some(
    (r) => input.listed.includes(r) && !input.encryptedTo.includes(r),
  );
  if (listedNotYet)
    return `your recipient is listed in ${input.where}, but the secrets in the store were encrypted before it was: an operator who can read them runs bring-up, which encrypts them again to every listed operator`;
  return `set it to the identity whose recipient is listed in ${input.where}; a new operator's recipient is added there and an operator already listed runs bring-up, which encrypts them again`;
}
