import { describe, expect, it } from "vitest";
import {
  judgeSharedFile,
  parseSharedFilesRecord,
  sha256OfText,
  type SharedFileAction,
} from "../../../src/plan/shared-files.js";

const a = sha256OfText("an inventory\n");
const b = sha256OfText("the inventory after another operator's scale\n");
const c = sha256OfText("the inventory this copy wrote and did not share\n");

describe("a shared file when a working copy loads (here, as last exchanged, in the store)", () => {
  const table: Array<
    [string, { here?: string; recorded?: string; stored?: string }, SharedFileAction]
  > = [
    ["nowhere", {}, "in-sync"],
    ["the same here and there", { here: a, recorded: a, stored: a }, "in-sync"],
    ["the same, never recorded (the record is written then)", { here: a, stored: a }, "in-sync"],
    ["missing here", { stored: a }, "fetch"],
    ["deleted here, to take the store's", { recorded: a, stored: b }, "fetch"],
    ["unchanged here, changed there", { here: a, recorded: a, stored: b }, "refresh"],
    ["unchanged here, gone there (destroy forgot it)", { here: a, recorded: a }, "remove"],
    ["changed here since, changed there too", { here: c, recorded: a, stored: b }, "keep"],
    ["changed here since, gone there", { here: c, recorded: a }, "keep"],
    ["never exchanged, different there", { here: c, stored: b }, "keep"],
    ["never exchanged, none there", { here: c }, "keep"],
  ];
  for (const [name, hashes, action] of table)
    it(`${name}: ${action}`, () => expect(judgeSharedFile(hashes)).toBe(action));
});

describe("the record of what was last exchanged", () => {
  it("keeps each key's SHA-256", () => {
    expect(parseSharedFilesRecord(JSON.stringify({ "files/inventory.json": a }))).toEqual({
      "files/inventory.json": a,
    });
  });

  it("is empty when missing, unreadable or not an object: every file differing is kept then", () => {
    for (const text of [undefined, "", "{", "[]", "null", '"x"'])
      expect(parseSharedFilesRecord(text), String(text)).toEqual({});
  });

  it("drops entries that are not SHA-256s", () => {
    expect(
      parseSharedFilesRecord(JSON.stringify({ "files/a": a, "files/b": 7, "files/c": "abc" })),
    ).toEqual({ "files/a": a });
  });
});
