/** How many characters of a user's value a message quotes before cutting it with "…". */
const quoteLimit = 60;

// C0 and C1 controls, DEL, and the characters that can reorder or hide text on a terminal
// (zero-width, bidirectional overrides and isolates, line and paragraph separators).
// eslint-disable-next-line no-control-regex
const unsafe = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A value a user gave (a name, a version, a field, a path), ready to be quoted in a message:
 * in double quotes, cut to `limit` characters, with quotes, backslashes and every control or
 * invisible character escaped, so a message is one readable line whatever was typed.
 */
export function quote(value: unknown, limit = quoteLimit): string {
  const text = String(value);
  const chars = Array.from(text); // by code point: a cut never splits a surrogate pair
  const cut = chars.length > limit ? `${chars.slice(0, limit).join("")}…` : text;
  const escaped = cut
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(unsafe, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `"${escaped}"`;
}
