import { describe, expect, it } from "vitest";
import {
  builtImageId,
  describeBuildFailure,
  failedStep,
  messageLines,
  ProgressDecoder,
  pushedDigest,
  StreamLines,
} from "../../../src/docker/progress.js";

describe("ProgressDecoder", () => {
  it("joins JSON messages split across chunks", () => {
    const d = new ProgressDecoder();
    expect(d.push('{"stream":"Step 1/2 : FROM x\\n"}\n{"str')).toEqual([
      { stream: "Step 1/2 : FROM x\n" },
    ]);
    expect(d.push('eam":" ---> abc\\n"}\r\n')).toEqual([{ stream: " ---> abc\n" }]);
    expect(d.push('{"aux":{"ID":"sha256:1"}}')).toEqual([]);
    expect(d.end()).toEqual([{ aux: { ID: "sha256:1" } }]);
  });

  it("keeps plain text lines as log lines", () => {
    expect(new ProgressDecoder().push("proxy says hi\n")).toEqual([{ stream: "proxy says hi\n" }]);
  });
});

describe("messageLines", () => {
  it.each([
    [{ stream: "a\nb\n\n" }, ["a", "b"]],
    [{ status: "Pushing", id: "abc123" }, ["abc123: Pushing"]],
    [{ stream: "\u001b[91mred\u001b[0m\n" }, ["red"]],
    [{ stream: "\u001b[?25l50%\u001b[?25h\n" }, ["50%"]],
    [{ stream: "\u001b]0;pwned\u0007built\u0007 ok\n" }, ["built ok"]],
    [{ status: "\u009b2JPushing\u001bc", id: "abc123" }, ["abc123: Pushing"]],
    [{ aux: { ID: "sha256:x" } }, []],
  ])("%j → %j", (message, lines) => {
    expect(messageLines(message)).toEqual(lines);
  });
});

describe("builtImageId and pushedDigest", () => {
  const digest = `sha256:${"a".repeat(64)}`;
  it.each([
    [[{ aux: { ID: "sha256:9" } }, { stream: "Successfully built 0123456789ab\n" }], "sha256:9"],
    [[{ stream: "Successfully built 0123456789ab\n" }], "0123456789ab"],
    [[{ stream: "Step 1/1 : FROM x\n" }], undefined],
  ])("build %#", (messages, id) => expect(builtImageId(messages)).toBe(id));
  it.each([
    [[{ status: "Pushed", id: "l1" }, { aux: { Tag: "1.0", Digest: digest, Size: 5 } }], digest],
    [[{ status: `1.0: digest: ${digest} size: 528` }], digest],
    [[{ status: "Pushed" }], undefined],
  ])("push %#", (messages, d) => expect(pushedDigest(messages)).toBe(d));
});

describe("failedStep", () => {
  const log = [
    "Step 1/3 : FROM base",
    " ---> 1234567890ab",
    "Step 2/3 : RUN make",
    " ---> Running in 0123456789ab",
    "compiling",
    "error: boom",
  ];
  it("finds the last step and its own output, without the builder's arrows", () => {
    expect(failedStep(log)).toEqual({
      step: "Step 2/3 : RUN make",
      output: ["compiling", "error: boom"],
    });
  });
  it("keeps only the tail of a long output", () => {
    const long = ["Step 1/1 : RUN x", ...Array.from({ length: 50 }, (_, i) => `line ${i}`)];
    expect(failedStep(long, 3).output).toEqual(["line 47", "line 48", "line 49"]);
  });
  it("works when no step started (a bad Dockerfile)", () => {
    expect(failedStep([])).toEqual({ output: [] });
  });
  it("describes the failure with the step, its output and the engine's error", () => {
    expect(
      describeBuildFailure(
        "site:1",
        log,
        "The command '/bin/sh -c make' returned a non-zero code: 2",
      ),
    ).toBe(
      "building site:1 failed at Step 2/3 : RUN make\n  | compiling\n  | error: boom\n  The command '/bin/sh -c make' returned a non-zero code: 2",
    );
    expect(describeBuildFailure("site:1", [], "dockerfile parse error line 3")).toBe(
      "building site:1 failed\n  dockerfile parse error line 3",
    );
  });
});

describe("StreamLines", () => {
  it("joins a line the engine sent in pieces", () => {
    const s = new StreamLines();
    expect(s.push("checking\nls:")).toEqual(["checking"]);
    expect(s.push(" cannot access 'x'")).toEqual([]);
    expect(s.push(": No such file\n")).toEqual(["ls: cannot access 'x': No such file"]);
    expect(s.push("last")).toEqual([]);
    expect(s.end()).toEqual(["last"]);
    expect(s.end()).toEqual([]);
  });
});
