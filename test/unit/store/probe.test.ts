import { describe, expect, it } from "vitest";
import { judgeConditionalWrites, type ConditionalWriteAnswers } from "../../../src/store/probe.js";

const honest: ConditionalWriteAnswers = {
  firstIfAbsent: "accepted",
  secondIfAbsent: "refused",
  currentIfMatch: "accepted",
  staleIfMatch: "refused",
};

describe("judgeConditionalWrites: may this store hold a shared lock?", () => {
  it("a store that refuses the second put-if-absent and the stale put-if-match is honest", () => {
    expect(judgeConditionalWrites(honest)).toEqual({ honoured: true });
  });

  it.each<[string, Partial<ConditionalWriteAnswers>, string]>([
    [
      "ignores If-None-Match",
      { secondIfAbsent: "accepted" },
      "it let If-None-Match: * overwrite a key that exists",
    ],
    [
      "ignores If-Match",
      { staleIfMatch: "accepted" },
      "it let If-Match with a stale ETag overwrite",
    ],
    [
      "refuses every conditional write",
      { firstIfAbsent: "refused" },
      "it refused to create a new key with If-None-Match: *",
    ],
    [
      "refuses the current ETag",
      { currentIfMatch: "refused" },
      "it refused If-Match with the object's current ETag",
    ],
  ])("a store that %s is refused, saying what it did", (_what, answers, problem) => {
    const verdict = judgeConditionalWrites({ ...honest, ...answers });
    expect(verdict).toEqual({ honoured: false, problems: [problem] });
  });

  it("a store that ignores both conditions is refused with both problems", () => {
    const verdict = judgeConditionalWrites({
      ...honest,
      secondIfAbsent: "accepted",
      staleIfMatch: "accepted",
    });
    expect(verdict.honoured).toBe(false);
    expect(!verdict.honoured && verdict.problems).toHaveLength(2);
  });
});
