import { describe, expect, it } from "vitest";
import { OperationError } from "../../../src/errors.js";
import { HttpError } from "../../../src/http.js";
import { explainNomadError } from "../../../src/nomad/client.js";

const refused = (path: string, status = 500) =>
  new HttpError(
    status,
    "1 error occurred:\n\t* Task group web validation failed: Max parallel can not be less than zero: -1 < 0",
    { method: "POST", path },
    "HTTP error",
  );

describe("explainNomadError", () => {
  it.each([
    ["a plan", "/v1/job/elm-lang.org/plan"],
    ["a parse", "/v1/jobs/parse"],
  ])("a job refused at %s says nothing was submitted and what to fix", (_what, path) => {
    const error = explainNomadError(refused(path), "127.0.0.1:4646") as OperationError;
    expect(error).toBeInstanceOf(OperationError);
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/^Nomad refused the job \(POST .+\): 1 error occurred/);
    expect(error.message).toContain("Max parallel can not be less than zero");
    expect(error.hint).toMatch(/nothing was submitted: fix the job template/);
  });

  it("any other failed call is Nomad's own reason, without claiming nothing was submitted", () => {
    const error = explainNomadError(refused("/v1/jobs", 400), "127.0.0.1:4646") as OperationError;
    expect(error.message).toMatch(/^Nomad POST \/v1\/jobs failed: /);
    expect(error.hint).not.toMatch(/nothing was submitted/);
  });

  it.each([403, 500])(
    "a %i 'Permission denied' (a forwarded client call's refusal) names the capability",
    (status) => {
      const error = explainNomadError(
        new HttpError(
          status,
          "Permission denied",
          { method: "GET", path: "/v1/client/fs/logs/a1" },
          "x",
        ),
        "127.0.0.1:4646",
      ) as OperationError;
      expect(error.message).toBe(
        "Nomad refused GET /v1/client/fs/logs/a1: permission denied; the token needs namespace capability read-logs (Nomad at 127.0.0.1:4646)",
      );
    },
  );

  it("another 500 stays Nomad's own reason", () => {
    const error = explainNomadError(
      new HttpError(
        500,
        "Permission denied to the moon",
        { method: "GET", path: "/v1/client/fs/logs/a1" },
        "x",
      ),
      "127.0.0.1:4646",
    ) as OperationError;
    expect(error.message).toMatch(/^Nomad GET \/v1\/client\/fs\/logs\/a1 failed: /);
  });
});
