import { describe, expect, it } from "vitest";
import { OperationError } from "../../../src/errors.js";
import { PermissionDeniedError, UnreachableError } from "../../../src/http.js";
import {
  execFrames,
  execQuery,
  exitCodeOf,
  readExecFrame,
  sessionEndedError,
} from "../../../src/nomad/exec.js";
import { nomadPermissionFor } from "../../../src/nomad/permissions.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const connection = {
  where: "127.0.0.1:4646 on t-manager-1 (through SSH)",
  path: "/v1/client/allocation/abc/exec",
};

describe("the exec API's frames", () => {
  it("the query is Nomad's own client's: the task, the command as a JSON array, tty", () => {
    expect(execQuery({ task: "site", command: ["sh", "-c", "exit 7"], tty: false })).toEqual({
      task: "site",
      command: '["sh","-c","exit 7"]',
      tty: "false",
    });
  });

  it("the client's frames: stdin as base64 (bytes kept), its close, the terminal's size, a heartbeat", () => {
    expect(JSON.parse(execFrames.stdin("héllo\n"))).toEqual({ stdin: { data: b64("héllo\n") } });
    expect(JSON.parse(execFrames.stdin(Buffer.from([0, 255, 3])))).toEqual({
      stdin: { data: "AP8D" },
    });
    expect(JSON.parse(execFrames.stdinClosed())).toEqual({ stdin: { close: true } });
    expect(JSON.parse(execFrames.terminalSize({ rows: 40, columns: 120 }))).toEqual({
      tty_size: { height: 40, width: 120 },
    });
    expect(execFrames.heartbeat()).toBe("{}");
  });

  it.each([
    [
      JSON.stringify({ stdout: { data: b64("a line\n") } }),
      { kind: "output", stream: "stdout", data: Buffer.from("a line\n") },
    ],
    [
      JSON.stringify({ stderr: { data: b64("oops") } }),
      { kind: "output", stream: "stderr", data: Buffer.from("oops") },
    ],
    [JSON.stringify({ stdout: { close: true } }), { kind: "closed", stream: "stdout" }],
    [JSON.stringify({ exited: true, result: { exit_code: 7 } }), { kind: "exited", exitCode: 7 }],
    // Go's encoder leaves out a zero only where the field says omitempty: exit_code does not
    [JSON.stringify({ exited: true, result: {} }), { kind: "exited", exitCode: 0 }],
    ["{}", { kind: "heartbeat" }],
  ])("reads %s", (text, frame) => {
    expect(readExecFrame(text)).toEqual(frame);
  });

  it.each(["not json", "[1,2]", JSON.stringify({ stdout: { data: 5 } }), "null"])(
    "%s is no exec frame",
    (text) => {
      expect(readExecFrame(text)).toBeUndefined();
    },
  );
});

describe("a session that ends without an exit code", () => {
  it("Nomad's 'Permission denied' names alloc-exec, the token never quoted", () => {
    const error = sessionEndedError({ code: 1008, reason: "Permission denied" }, connection, true);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error.message).toBe(
      "Nomad refused GET /v1/client/allocation/abc/exec: permission denied; the token needs namespace capability alloc-exec (Nomad at 127.0.0.1:4646 on t-manager-1 (through SSH))",
    );
    expect((error as PermissionDeniedError).hint).toMatch(/alloc-exec \(with read-job\)/);
  });

  it("any other reason is said as Nomad's, with the close code", () => {
    const error = sessionEndedError(
      { code: 1011, reason: "failed to exec into task: no such file: nosuch" },
      connection,
      true,
    );
    expect(error).toBeInstanceOf(OperationError);
    expect(error.message).toBe(
      "Nomad ended the exec session before the command's exit code came: failed to exec into task: no such file: nosuch (WebSocket close 1011)",
    );
  });

  it("a session that never opened, with no reason, is Nomad out of reach", () => {
    const error = sessionEndedError({ code: 1006, reason: "" }, connection, false);
    expect(error).toBeInstanceOf(UnreachableError);
    expect(error.message).toBe(`Nomad is not reachable at ${connection.where}`);
  });

  it.each([
    [0, 0],
    [7, 7],
    [137, 137],
    [255, 255],
    [-1, 1],
    [256, 1],
  ])("the command's exit code %i ends elm-infra with %i", (code, exit) => {
    expect(exitCodeOf(code)).toBe(exit);
  });
});

describe("the permission a refused logs or exec call needs", () => {
  it.each([
    ["/v1/client/fs/logs/abc", "namespace capability read-logs"],
    ["/v1/client/allocation/abc/exec", "namespace capability alloc-exec"],
    ["/v1/client/allocation/abc/signal", "namespace capability alloc-lifecycle"],
  ])("%s: %s", (path, permission) => {
    expect(nomadPermissionFor("GET", path)).toBe(permission);
  });
});
