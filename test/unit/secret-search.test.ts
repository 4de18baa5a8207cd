import { describe, expect, it } from "vitest";
import { findSecrets, secretForms } from "../harness/secret-search.js";

const key = "q2ZsKx0+/9vX3yZk1aBcDeFgHiJkLmNoPqRsTuVwXyA=";

describe("the secrets audit's search", () => {
  it.each([
    ["plain", `token: ${key}\n`],
    ["base64", Buffer.from(`{"auth":"${key}"}`).toString("base64")],
    ["base64", Buffer.from(`x${key}`).toString("base64")],
    ["base64", Buffer.from(`xy${key}`).toString("base64")],
    ["json", JSON.stringify({ k: key }).replaceAll("/", "\\/")],
    ["url", `https://x/?token=${encodeURIComponent(key)}`],
  ])("finds a value written %s", (form, text) => {
    const found = findSecrets([{ where: "f", data: text }], { consulGossipKey: key });
    expect(found).toContainEqual({ where: "f", field: "consulGossipKey", form });
  });

  it("finds nothing where the value is absent, and names each place and field once per form", () => {
    const uuid = "0b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0";
    const found = findSecrets(
      [
        { where: "clean", data: "nothing here" },
        { where: "twice", data: Buffer.from(`${uuid} ${uuid}`) },
      ],
      { nomadToken: uuid, consulGossipKey: key },
    );
    expect(found).toEqual([{ where: "twice", field: "nomadToken", form: "plain" }]);
  });

  it("skips forms equal to the plain value", () => {
    const forms = secretForms("0b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0").map((f) => f.form);
    expect(forms.filter((f) => f === "plain")).toHaveLength(1);
    expect(forms).not.toContain("url");
  });
});
