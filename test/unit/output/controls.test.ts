/**
 * Server text reaches a terminal without its control sequences: stripped once at the output layer
 * (every mode) and in typed errors' messages (listr2 shows those before the output layer does).
 */
import { describe, expect, it } from "vitest";
import { ElmInfraError, OperationError } from "../../../src/errors.js";
import { stripControls } from "../../../src/output/controls.js";
import { captureOutput } from "../../support/capture-output.js";
import { controlText } from "../../support/hostile-server.js";

// eslint-disable-next-line no-control-regex
const anyControl = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("stripControls", () => {
  it.each([
    ["plain text", "deployment failed: 2 unhealthy", "deployment failed: 2 unhealthy"],
    ["newlines and tabs stay", "a\n\tb", "a\n\tb"],
    ["a colour (CSI SGR)", "\u001b[31mred\u001b[0m", "red"],
    ["a cursor move and erase", "ok\u001b[2K\u001b[1Ahidden", "okhidden"],
    ["a window title (OSC ended by BEL)", "\u001b]0;pwned\u0007after", "after"],
    ["a hyperlink (OSC ended by ST)", "\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\", "link"],
    ["a device control string (DCS)", "\u001bPq#0;2;0;0;0\u001b\\after", "after"],
    ["8-bit CSI and OSC (C1)", "\u009b2Jx\u009d0;t\u009cy", "xy"],
    ["a two-character escape", "\u001bcreset", "reset"],
    ["other C0 controls, DEL and CR", "a\u0000b\u0007c\u007fd\re\u0008f", "abcdef"],
    ["an ESC at the very end", "tail\u001b", "tail"],
    ["the issue's example", "\u001b]0;pwned\u0007\u001b[31mred", "red"],
    ["text that is not a control", "café ✔ – ⚠", "café ✔ – ⚠"],
  ])("%s", (_, text, stripped) => {
    expect(stripControls(text)).toBe(stripped);
    expect(stripControls(text)).not.toMatch(anyControl);
  });
});

describe("at the output layer", () => {
  const events = (text: string) =>
    [
      { type: "task", state: "failed", title: `submit ${text}`, ms: 1, error: text },
      { type: "log", level: "info", message: text, task: "watch" },
      { type: "log", level: "warn", message: text },
      { type: "result", command: "status", data: { job: text }, text },
      { type: "error", exitCode: 1, error: "OperationError", message: text, hint: text },
    ] as const;

  it.each(["plain", "tty", "json"] as const)(
    "%s mode: no control byte leaves, the words do",
    (mode) => {
      const { output, stdout, stderr } = captureOutput(mode);
      for (const event of events(controlText)) output.emit(event);
      const all = [...stdout(), ...stderr()].join("\n");
      expect(all).not.toMatch(anyControl);
      expect(all).not.toContain("pwned");
      expect(all).toContain("red");
      // JSON mode: the escaped form of a control (\u001b) is not written either.
      if (mode === "json") expect(all).not.toMatch(/\\u00(1b|07|9b)/i);
    },
  );
});

describe("typed errors", () => {
  it("message and hint are stripped where they are made", () => {
    const error = new OperationError(`Nomad said: ${controlText}`, `hint ${controlText}`);
    expect(error.message).toBe("Nomad said: red\ntail");
    expect(error.hint).toBe("hint red\ntail");
    expect(new ElmInfraError("no hint").hint).toBeUndefined();
  });
});

describe("JSON mode keeps what is not a string as JSON writes it", () => {
  it("a Date in a result stays a date; strings around it are stripped", () => {
    const { output, stdout } = captureOutput("json");
    const when = new Date("2026-12-04T17:00:00.000Z");
    output.emit({ type: "result", command: "status", data: { when, note: "\u001b[1mok" } });
    expect(JSON.parse(stdout()[0]!)).toEqual({
      type: "result",
      command: "status",
      data: { when: "2026-12-04T17:00:00.000Z", note: "ok" },
    });
  });
});
