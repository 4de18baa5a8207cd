/**
 * The secrets audit's search (issue 12): every form a secret value can take when something writes
 * it out (plain, base64, JSON-escaped, URL-encoded), looked for in bytes gathered from a run.
 * Pure: the e2e scenario gathers the places (outputs, files, job specs, `docker inspect`, logs).
 */

export type SecretForm = "plain" | "base64" | "json" | "url";

export interface Place {
  /** What the bytes are: a file's path, "job ingress v3", "docker inspect <name>". */
  where: string;
  data: Buffer | string;
}

export interface Finding {
  where: string;
  /** The secrets file's field whose value was found. */
  field: string;
  form: SecretForm;
}

/**
 * The needles for one value. Base64 is taken at the three alignments a value can have inside a
 * larger encoded blob, keeping only the characters that do not depend on its neighbours.
 */
export function secretForms(value: string): Array<{ form: SecretForm; needle: string }> {
  const forms: Array<{ form: SecretForm; needle: string }> = [{ form: "plain", needle: value }];
  const bytes = Buffer.from(value, "utf8");
  for (const shift of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
    // Characters fully made of the value's bits: skip the prefix's, and the last group's tail.
    const start = shift === 0 ? 0 : Math.ceil((shift * 8) / 6);
    const end = Math.floor(((shift + bytes.length) * 8) / 6);
    forms.push({ form: "base64", needle: encoded.slice(start, end) });
  }
  const json = JSON.stringify(value).slice(1, -1);
  forms.push({ form: "json", needle: json }, { form: "json", needle: json.replaceAll("/", "\\/") });
  forms.push({ form: "url", needle: encodeURIComponent(value) });
  forms.push({ form: "url", needle: encodeURIComponent(value).replaceAll("%20", "+") });
  // A form equal to the plain value (a UUID's JSON or URL form) is found as plain.
  const seen = new Set<string>();
  return forms.filter((f) => {
    if (f.needle.length < 8 || seen.has(f.needle)) return false;
    seen.add(f.needle);
    return true;
  });
}

/** Every (place, field, form) where a secret's value shows, in any of its forms. */
export function findSecrets(
  places: readonly Place[],
  secrets: Readonly<Record<string, string>>,
): Finding[] {
  const needles = Object.entries(secrets).flatMap(([field, value]) =>
    secretForms(value).map((f) => ({ field, ...f, bytes: Buffer.from(f.needle, "utf8") })),
  );
  const findings: Finding[] = [];
  for (const place of places) {
    const data = typeof place.data === "string" ? Buffer.from(place.data, "utf8") : place.data;
    const hit = new Set<string>();
    for (const n of needles) {
      const key = `${n.field}/${n.form}`;
      if (hit.has(key) || data.indexOf(n.bytes) === -1) continue;
      hit.add(key);
      findings.push({ where: place.where, field: n.field, form: n.form });
    }
  }
  return findings;
}
