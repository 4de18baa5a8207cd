import { describe, expect, it } from "vitest";
import {
  ageIdentitySource,
  badRecipients,
  explainRefusedIdentity,
  recipientsOfIdentity,
  judgeSecretsUpload,
  lacksClusterSecrets,
  operatorRecipients,
  parseEnvelope,
  renderEnvelope,
  sharedSecretsOf,
} from "../../../src/plan/shared-secrets.js";
import { ageIdentity, ageRecipient } from "../../../src/plan/age.js";

const ada = ageRecipient(ageIdentity(new Uint8Array(32).fill(1)));
const bob = ageRecipient(ageIdentity(new Uint8Array(32).fill(2)));
const armored = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";

describe("judgeSecretsUpload: when bring-up encrypts the secrets (again) for the store", () => {
  it.each([
    ["no operator listed", undefined, [], [], false, /no operator is listed/],
    ["the store has none", undefined, [ada], [], true, /has none yet/],
    ["changed now", [ada], [ada], ["nomadToken"], true, /changed now: nomadToken/],
    ["the same operators (any order)", [bob, ada], [ada, bob], [], false, /already in the store/],
    ["an operator added", [ada], [ada, bob], [], true, /re-encrypted: 1 operator\(s\) added/],
    ["an operator removed", [ada, bob], [ada], [], true, /re-encrypted: 1 removed/],
  ] as const)("%s", (_what, stored, recipients, changed, upload, why) => {
    const decision = judgeSecretsUpload({
      stored: stored ? { recipients: stored } : undefined,
      recipients,
      changed,
    });
    expect(decision.upload).toBe(upload);
    expect(decision.why).toMatch(why);
    if (decision.upload) expect(decision.recipients).toEqual([...recipients].sort());
  });
});

describe("what the store holds of the secrets", () => {
  it("only the generated ones: never the user's API tokens or webhook", () => {
    expect(
      sharedSecretsOf({
        digitaloceanToken: "dop_v1_user",
        notifyWebhookUrl: "https://hooks.example/x",
        nomadToken: "n",
        consulGossipKey: "g",
        registryPassword: "p",
        clusterSnapshotIdentity: "AGE-SECRET-KEY-1X",
      }),
    ).toEqual({
      nomadToken: "n",
      consulGossipKey: "g",
      registryPassword: "p",
      clusterSnapshotIdentity: "AGE-SECRET-KEY-1X",
    });
  });

  it("is asked only when a cluster secret is missing here", () => {
    expect(lacksClusterSecrets({ digitaloceanToken: "x" })).toBe(true);
    const all = {
      consulGossipKey: "a",
      nomadGossipKey: "b",
      consulToken: "c",
      consulAgentToken: "d",
      consulNomadToken: "e",
      consulTraefikToken: "f",
      nomadToken: "g",
    };
    expect(lacksClusterSecrets(all)).toBe(false);
  });

  it("is encrypted to every listed operator once, sorted", () => {
    expect(
      operatorRecipients({
        operators: [
          { name: "b", ageRecipient: bob },
          { name: "a", ageRecipient: ada },
          { name: "a2", ageRecipient: ada },
        ],
      }),
    ).toEqual([ada, bob].sort());
    expect(operatorRecipients({})).toEqual([]);
  });

  it("an envelope reads back; anything else says what is wrong with it", () => {
    expect(parseEnvelope(renderEnvelope([ada], armored))).toEqual({
      format: "elm-infra-secrets/1",
      recipients: [ada],
      age: armored,
    });
    expect(parseEnvelope("nomadToken: x")).toEqual({ problem: "is not JSON" });
    expect(parseEnvelope('{"nomadToken":"x"}')).toEqual({
      problem: "is not an elm-infra-secrets/1 object",
    });
    expect(
      parseEnvelope('{"format":"elm-infra-secrets/1","recipients":[],"age":"in clear"}'),
    ).toEqual({ problem: "holds no age ciphertext" });
  });
});

describe("ageIdentitySource: the operator's identity", () => {
  it.each([
    [
      "the key itself before a file",
      { ELM_INFRA_AGE_IDENTITY: "K", ELM_INFRA_AGE_IDENTITY_FILE: "/f" },
      "key",
    ],
    ["a file", { ELM_INFRA_AGE_IDENTITY_FILE: "/f" }, "file"],
    [
      "an empty variable is not set",
      { ELM_INFRA_AGE_IDENTITY: "", ELM_INFRA_AGE_IDENTITY_FILE: "/f" },
      "file",
    ],
    ["neither", {}, undefined],
  ] as const)("%s", (_what, env, kind) => {
    expect(ageIdentitySource(env)?.kind).toBe(kind);
  });
});

describe("an operator's recipient and identity", () => {
  it("a recipient whose checksum is wrong is found, by its place in the list", () => {
    const typo = `${ada.slice(0, -1)}${ada.endsWith("q") ? "p" : "q"}`;
    expect(
      badRecipients({
        operators: [
          { name: "ada", ageRecipient: ada },
          { name: "typo", ageRecipient: typo },
        ],
      }),
    ).toEqual([1]);
  });

  it("an identity file's recipients, its comments aside", () => {
    const identity = ageIdentity(new Uint8Array(32).fill(1));
    expect(recipientsOfIdentity(`# created: now\n# public key: ${bob}\n${identity}\n`)).toEqual([
      ada,
    ]);
    expect(recipientsOfIdentity("not a key")).toEqual([]);
  });

  it.each([
    ["listed, not yet encrypted to", [bob], [ada, bob], [ada], /encrypted before it was/],
    ["not listed", [bob], [ada], [ada], /set it to the identity whose recipient is listed/],
  ] as const)("refused when %s", (_what, identityRecipients, listed, encryptedTo, hint) => {
    expect(
      explainRefusedIdentity({
        identityRecipients,
        listed,
        encryptedTo,
        where: "targets.t.operators",
      }),
    ).toMatch(hint);
  });
});
