import { describe, expect, it } from "vitest";
import { isImageTag, parseServiceRef, requireVersion } from "../../../src/config/service-ref.js";
import { ExitCode, UsageError } from "../../../src/errors.js";

const known = ["elm-lang.org", "package.elm-lang.org"];

function usageErrorOf(
  arg: string | undefined,
  options: { versionOptional?: boolean } = {},
): UsageError {
  try {
    parseServiceRef(arg, known, options);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(ExitCode.Usage);
    return error as UsageError;
  }
  throw new Error(`expected ${JSON.stringify(arg)} to be refused`);
}

describe("valid service@version", () => {
  it.each([
    ["elm-lang.org@1.4.2", "elm-lang.org", "1.4.2"],
    ["elm-lang.org@v2", "elm-lang.org", "v2"],
    ["package.elm-lang.org@2024-01-01_abc", "package.elm-lang.org", "2024-01-01_abc"],
    ["elm-lang.org@_build.7", "elm-lang.org", "_build.7"],
    ["elm-lang.org@LATEST", "elm-lang.org", "LATEST"],
    [`elm-lang.org@${"a".repeat(128)}`, "elm-lang.org", "a".repeat(128)],
  ])("%s", (arg, service, version) => {
    expect(parseServiceRef(arg, known)).toEqual({ service, version });
  });
});

describe("hostile or wrong versions are refused before any I/O", () => {
  it.each([
    ["latest", "elm-lang.org@latest"],
    ["empty version", "elm-lang.org@"],
    ["129-char tag", `elm-lang.org@${"a".repeat(129)}`],
    ["shell command", "elm-lang.org@1.0;rm -rf /"],
    ["command substitution", "elm-lang.org@$(id)"],
    ["backticks", "elm-lang.org@`id`"],
    ["HCL/shell interpolation", "elm-lang.org@${var}"],
    ["double quote", 'elm-lang.org@1.0"'],
    ["single quote", "elm-lang.org@1.0'"],
    ["newline", "elm-lang.org@1.0\nrm"],
    ["carriage return", "elm-lang.org@1.0\r"],
    ["Nomad/HCL template directive", "elm-lang.org@%{if true}"],
    ["space", "elm-lang.org@1.0 2"],
    ["tab", "elm-lang.org@1.0\t"],
    ["unicode look-alike digit", "elm-lang.org@１.0"],
    ["unicode look-alike letter", "elm-lang.org@vеrsion"], // Cyrillic е
    ["zero-width space", "elm-lang.org@1.0\u200b"],
    ["leading dot", "elm-lang.org@.1"],
    ["leading dash", "elm-lang.org@-rf"],
    ["path traversal", "elm-lang.org@../etc"],
    ["slash", "elm-lang.org@a/b"],
    ["colon", "elm-lang.org@1.0:2"],
    ["double @", "elm-lang.org@@1.0"],
    ["NUL byte", "elm-lang.org@1.0\u0000"],
  ])("%s", (_what, arg) => {
    const error = usageErrorOf(arg);
    expect(error.message).toMatch(/^invalid version /);
    expect(error.message).toContain("image tag");
    expect(error.hint).toBe("type for example: elm-lang.org@1.4.2");
    // The message quotes the input escaped, so it cannot break the terminal or a log line.
    // eslint-disable-next-line no-control-regex
    expect(error.message).not.toMatch(/[\n\r\u0000]/);
  });

  it("a very long bad version is shortened in the message", () => {
    const error = usageErrorOf(`elm-lang.org@${"a".repeat(200)}`);
    expect(error.message).toContain(`"${"a".repeat(60)}…"`);
    expect(error.message).not.toContain("a".repeat(61));
  });
});

describe("the service part", () => {
  it.each([
    ["unknown service", "wiki.elm-lang.org@1.0", '"wiki.elm-lang.org"'],
    ["service in upper case", "ELM-LANG.ORG@1.0", '"ELM-LANG.ORG"'],
    ["service with a @ inside", "elm@lang.org@1.0", '"elm"'],
    ["nothing before @", "@1.0", '""'],
    ["shell in the service", "$(id)@1.0", '"$(id)"'],
  ])("%s: lists the known services", (_what, arg, quoted) => {
    const error = usageErrorOf(arg);
    expect(error.message).toBe(`unknown service ${quoted}`);
    expect(error.hint).toBe(
      "known services: elm-lang.org, package.elm-lang.org; type for example: elm-lang.org@1.4.2",
    );
  });

  it.each([undefined, ""])("%j: says what to type", (arg) => {
    const error = usageErrorOf(arg);
    expect(error.message).toBe("missing <service>@<version>");
    expect(error.hint).toBe("type for example: elm-lang.org@1.4.2");
  });

  it("a service without a version is refused where one is needed", () => {
    const error = usageErrorOf("elm-lang.org");
    expect(error.message).toBe('missing version in "elm-lang.org"');
    expect(error.hint).toBe("type elm-lang.org@<version>, for example elm-lang.org@1.4.2");
  });
});

describe("versionOptional (rollback)", () => {
  it("accepts a bare service", () => {
    expect(parseServiceRef("elm-lang.org", known, { versionOptional: true })).toEqual({
      service: "elm-lang.org",
      version: undefined,
    });
  });

  it("accepts a service with a version", () => {
    expect(parseServiceRef("elm-lang.org@1.4.1", known, { versionOptional: true })).toEqual({
      service: "elm-lang.org",
      version: "1.4.1",
    });
  });

  it.each(["elm-lang.org@", "elm-lang.org@latest", "elm-lang.org@$(id)"])(
    "still refuses %j",
    (arg) => {
      expect(usageErrorOf(arg, { versionOptional: true }).message).toMatch(/^invalid version/);
    },
  );

  it("names the optional form when nothing is given", () => {
    expect(usageErrorOf("", { versionOptional: true }).message).toBe(
      "missing <service>[@<version>]",
    );
  });

  it("requireVersion refuses a ref without one", () => {
    expect(() => requireVersion({ service: "elm-lang.org", version: undefined })).toThrow(
      UsageError,
    );
    expect(requireVersion({ service: "elm-lang.org", version: "1.0" })).toEqual({
      service: "elm-lang.org",
      version: "1.0",
    });
  });
});

describe("isImageTag", () => {
  it.each([
    ["1.4.2", true],
    ["latest", false],
    ["", false],
    ["a".repeat(128), true],
    ["a".repeat(129), false],
    ["1.0\n", false],
  ])("%j -> %s", (tag, ok) => {
    expect(isImageTag(tag)).toBe(ok);
  });
});
