import { afterEach, describe, expect, it } from "vitest";
import { chooseMode, type OutputEvent } from "../../../src/output/output.js";
import { forgetSecrets, redact, redactDeep, registerSecret } from "../../../src/output/redact.js";
import type { TerraformEvent } from "../../../src/terraform/events.js";
import { captureOutput } from "../../support/capture-output.js";

const everyKind: OutputEvent[] = [
  { type: "task", state: "started", title: "render job" },
  { type: "task", state: "completed", title: "render job", ms: 1200 },
  { type: "task", state: "skipped", title: "build image", reason: "already in the registry" },
  { type: "task", state: "failed", title: "submit job", ms: 300, error: "connection refused" },
  { type: "log", level: "info", message: "plan: 1 to change" },
  { type: "log", level: "info", message: "allocation 3/3 healthy", task: "watch deployment" },
  { type: "log", level: "warn", message: "node w2 is draining" },
  { type: "result", command: "status", data: { version: "1.4.2" } },
  {
    type: "error",
    exitCode: 2,
    error: "UsageError",
    message: "bad version",
    hint: "type elm-lang.org@1.4.2",
  },
];

afterEach(() => forgetSecrets());

describe("chooseMode", () => {
  it.each([
    [{ json: true, isTTY: true }, "json"],
    [{ isTTY: true }, "tty"],
    [{ isTTY: true, ci: true }, "plain"],
    [{ isTTY: false }, "plain"],
    [{}, "plain"],
  ] as const)("%j -> %s", (opts, mode) => {
    expect(chooseMode(opts)).toBe(mode);
  });
});

describe("JSON mode", () => {
  it("writes one JSON object per line on stdout, in order, and nothing on stderr", () => {
    const { output, stdout, stderr } = captureOutput("json");
    for (const event of everyKind) output.emit(event);
    const lines = stdout();
    expect(lines).toHaveLength(everyKind.length);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(everyKind);
    expect(stderr()).toEqual([]);
  });

  it("writes a multi-line message as one line", () => {
    const { output, stdout } = captureOutput("json");
    output.info("first\nsecond");
    expect(stdout()).toHaveLength(1);
    expect(JSON.parse(stdout()[0]!)).toMatchObject({ message: "first\nsecond" });
  });
});

describe("plain mode", () => {
  it("puts the result on stdout and progress, logs and errors on stderr", () => {
    const { output, stdout, stderr } = captureOutput("plain");
    for (const event of everyKind) output.emit(event);
    expect(stdout().join("\n")).toBe(JSON.stringify({ version: "1.4.2" }, null, 2));
    expect(stderr()).toEqual([
      "▶ render job",
      "✔ render job (1.2s)",
      "↓ build image [skipped: already in the registry]",
      "✖ submit job (0.3s): connection refused",
      "plan: 1 to change",
      "  allocation 3/3 healthy",
      "warning: node w2 is draining",
      "error: bad version",
      "hint: type elm-lang.org@1.4.2",
    ]);
  });

  it("prints a string result as it is", () => {
    const { output, stdout } = captureOutput("plain");
    output.emit({ type: "result", command: "render", data: 'job "web" {}' });
    expect(stdout()).toEqual(['job "web" {}']);
  });

  it("writes no ANSI escape codes", () => {
    const { output, stdout, stderr } = captureOutput("plain");
    for (const event of everyKind) output.emit(event);
    // eslint-disable-next-line no-control-regex
    expect([...stdout(), ...stderr()].join("\n")).not.toMatch(/\u001b\[/);
  });
});

describe("TTY mode", () => {
  it("leaves tasks and step logs to listr2 but prints results, warnings and errors", () => {
    const { output, stdout, stderr } = captureOutput("tty");
    for (const event of everyKind) output.emit(event);
    expect(stdout()).toHaveLength(3); // the pretty-printed result object
    expect(stderr()).toEqual([
      "plan: 1 to change",
      "warning: node w2 is draining",
      "error: bad version",
      "hint: type elm-lang.org@1.4.2",
    ]);
  });
});

describe("debug lines", () => {
  it.each(["json", "plain", "tty"] as const)("%s: shown only with verbose", (mode) => {
    const quiet = captureOutput(mode, false);
    quiet.output.debug("GET /v1/jobs 200");
    expect([...quiet.stdout(), ...quiet.stderr()]).toEqual([]);

    const loud = captureOutput(mode, true);
    loud.output.debug("GET /v1/jobs 200");
    expect([...loud.stdout(), ...loud.stderr()].join("\n")).toContain("GET /v1/jobs 200");
  });
});

describe("redaction", () => {
  const token = "3f1c9a2e-7b4d-4e8a-9c1f-2d5b6a7e8f90";

  it.each(["json", "plain", "tty"] as const)(
    "%s: a registered secret is [redacted] in every kind of line",
    (mode) => {
      registerSecret(token);
      const { output, stdout, stderr } = captureOutput(mode, true);
      output.info(`token is ${token}`);
      output.warn(`token is ${token}`);
      output.debug(`token is ${token}`);
      output.emit({ type: "result", command: "status", data: { token } });
      output.emit({
        type: "error",
        exitCode: 1,
        error: "OperationError",
        message: `auth ${token} failed`,
        hint: token,
      });
      output.emit({ type: "task", state: "failed", title: `login ${token}`, ms: 1, error: token });
      const all = [...stdout(), ...stderr()].join("\n");
      expect(all).not.toContain(token);
      expect(all).toContain("[redacted]");
    },
  );

  it("masks a secret with quotes and backslashes in JSON lines too", () => {
    const password = 'pa"ss\\word';
    registerSecret(password);
    const { output, stdout } = captureOutput("json");
    output.info(`password ${password}`);
    const line = stdout()[0]!;
    expect(line).not.toContain(JSON.stringify(password).slice(1, -1));
    expect(JSON.parse(line)).toMatchObject({ message: "password [redacted]" });
  });

  it("masks the whole of a secret that contains another secret", () => {
    registerSecret("abcdef");
    registerSecret("abcdefghijkl");
    expect(redact("x abcdefghijkl y abcdef")).toBe("x [redacted] y [redacted]");
  });

  it("skips values too short to be a token, so ordinary words survive", () => {
    registerSecret("root");
    expect(redact("user root")).toBe("user root");
  });

  it("removes every secret from every string of a Terraform event", () => {
    registerSecret("dop_v1_secret");
    const event: TerraformEvent = {
      kind: "diagnostic",
      diagnostic: {
        severity: "error",
        summary: "GET https://api/v2?token=dop_v1_secret failed",
        detail: "Bearer dop_v1_secret",
      },
    };
    const scrubbed = redactDeep(event);
    expect(JSON.stringify(scrubbed)).not.toContain("dop_v1_secret");
    expect(scrubbed).toEqual({
      kind: "diagnostic",
      diagnostic: {
        severity: "error",
        summary: "GET https://api/v2?token=[redacted] failed",
        detail: "Bearer [redacted]",
      },
    });
  });

  it("forgets secrets on request", () => {
    registerSecret(token);
    forgetSecrets();
    expect(redact(token)).toBe(token);
  });
});
