import { describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import {
  formatHistory,
  isRecorded,
  ledgerEntryOf,
  ledgerId,
  ledgerKey,
  notificationBody,
  selectHistory,
  versionOfEntry,
  whoRan,
  type FinishedRun,
  type LedgerEntry,
} from "../../../src/plan/ledger.js";

const run = (o: Partial<FinishedRun> = {}): FinishedRun => ({
  id: "20261206T101500123Z-3fa2",
  target: "production",
  command: "deploy",
  argv: ["deploy", "elm-lang.org@1.0.1", "--yes"],
  operands: ["elm-lang.org@1.0.1"],
  startedAt: new Date("2026-12-06T10:15:00.123Z"),
  durationMs: 42_149.7,
  who: "Jane Doe <jane@example.org>",
  commit: { sha: "0b53f07aa1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6", dirty: false },
  exitCode: 0,
  data: {
    service: "elm-lang.org",
    version: "1.0.1",
    previousVersion: "1.0.0",
    jobVersion: 7,
    outcome: "deployed",
  },
  ...o,
});

const entry = (o: Partial<LedgerEntry>): LedgerEntry => ({ ...ledgerEntryOf(run()), ...o });

describe("ledger ids and keys", () => {
  it("sort as the times do, to the millisecond, whatever the random part", () => {
    const times = [
      "2026-12-06T09:59:59.999Z",
      "2026-12-06T10:00:00.000Z",
      "2026-12-06T10:00:00.001Z",
      "2026-12-31T23:59:59.000Z",
      "2027-01-01T00:00:00.000Z",
    ];
    const ids = times.map((t, i) =>
      ledgerId(new Date(t), ["ffff", "0000", "9a9a", "1234", "0001"][i]!),
    );
    expect([...ids].sort()).toEqual(ids);
    expect(ids[1]).toBe("20261206T100000000Z-0000");
    expect(ledgerKey(ids[1]!)).toBe("elm-infra/ledger/20261206T100000000Z-0000");
  });
});

describe("whoRan", () => {
  const git = { name: "Jane Doe", email: "jane@example.org" };
  it.each([
    ["CI's actor on CI", { CI: "true", GITHUB_ACTOR: "octocat" }, git, "octocat (CI)"],
    ["GitLab's user on CI", { CI: "true", GITLAB_USER_LOGIN: "jdoe" }, git, "jdoe (CI)"],
    [
      "an actor variable without CI=true is ignored",
      { GITHUB_ACTOR: "octocat" },
      git,
      "Jane Doe <jane@example.org>",
    ],
    ["CI without an actor: the git identity", { CI: "true" }, git, "Jane Doe <jane@example.org>"],
    ["a name alone", {}, { name: "Jane Doe" }, "Jane Doe"],
    ["no git identity: the OS user", {}, undefined, "deploy-user"],
    ["blank git values: the OS user", {}, { name: " ", email: "" }, "deploy-user"],
  ])("%s", (_what, env, g, expected) => {
    expect(whoRan({ env, git: g, osUser: "deploy-user" })).toBe(expected);
  });
});

describe("ledgerEntryOf: what a finished run records", () => {
  it("a deploy that succeeded: service, from → to, job version, commit, duration", () => {
    expect(ledgerEntryOf(run())).toEqual({
      id: "20261206T101500123Z-3fa2",
      target: "production",
      at: "2026-12-06T10:15:00.123Z",
      who: "Jane Doe <jane@example.org>",
      command: "deploy",
      commandLine: "deploy elm-lang.org@1.0.1 --yes",
      service: "elm-lang.org",
      from: "1.0.0",
      to: "1.0.1",
      jobVersion: 7,
      commit: "0b53f07aa1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6",
      dirty: false,
      outcome: "succeeded",
      exitCode: 0,
      durationMs: 42150,
      error: null,
    });
  });

  it("a failed deploy that was reverted: the version asked for, the first line of the error, the exit code", () => {
    const e = ledgerEntryOf(
      run({
        exitCode: 1,
        argv: ["deploy", "elm-lang.org@1.0.2", "--yes"],
        operands: ["elm-lang.org@1.0.2"],
        data: undefined,
        commit: { sha: "a".repeat(40), dirty: true },
        error: {
          message: "deploy of elm-lang.org@1.0.2 failed and was reverted\n  details",
          reverted: true,
        },
      }),
    );
    expect(e).toMatchObject({
      service: "elm-lang.org",
      from: null,
      to: "1.0.2",
      outcome: "reverted",
      exitCode: 1,
      dirty: true,
      error: "deploy of elm-lang.org@1.0.2 failed and was reverted",
    });
  });

  it("a failure that was not reverted is failed, with its exit code (130 for Ctrl-C)", () => {
    const e = ledgerEntryOf(
      run({ exitCode: 130, data: undefined, error: { message: "interrupted", reverted: false } }),
    );
    expect([e.outcome, e.exitCode]).toEqual(["failed", 130]);
  });

  it("a rollback: from and to as the result says; an ingress upgrade: each worker's previous version", () => {
    expect(
      ledgerEntryOf(
        run({
          command: "rollback",
          operands: ["elm-lang.org"],
          data: { service: "elm-lang.org", from: "1.0.1", to: "1.0.0", jobVersion: 9 },
        }),
      ),
    ).toMatchObject({
      command: "rollback",
      service: "elm-lang.org",
      from: "1.0.1",
      to: "1.0.0",
      jobVersion: 9,
    });
    expect(
      ledgerEntryOf(
        run({
          operands: ["ingress@3.6.13"],
          data: {
            version: "3.6.13",
            previous: { w1: "3.6.12", w2: "3.6.12" },
            outcome: "deployed",
          },
        }),
      ),
    ).toMatchObject({ service: "ingress", from: "3.6.12", to: "3.6.13", jobVersion: null });
  });

  it("a scale, replace, reboot or upgrade: no service, the command line says what", () => {
    const e = ledgerEntryOf(
      run({
        command: "scale",
        argv: ["scale", "--workers", "3", "--yes"],
        operands: [],
        commit: undefined,
        data: {},
      }),
    );
    expect(e).toMatchObject({ service: null, from: null, to: null, commit: null, dirty: false });
    expect(formatHistory([e])).toContain("scale --workers 3 --yes");
  });
});

describe("isRecorded", () => {
  it.each([
    [{ command: "deploy", dryRun: false, exitCode: 0, data: { outcome: "deployed" } }, true],
    [{ command: "deploy", dryRun: false, exitCode: 1 }, true],
    [{ command: "reboot", dryRun: false, exitCode: 130 }, true],
    [{ command: "deploy", dryRun: true, exitCode: 0, data: { outcome: "planned" } }, false],
    [{ command: "deploy", dryRun: false, exitCode: 0, data: { outcome: "unchanged" } }, false],
    [{ command: "deploy", dryRun: false, exitCode: 2 }, false],
    [{ command: "status", dryRun: false, exitCode: 0 }, false],
    [{ command: "history", dryRun: false, exitCode: 0 }, false],
  ])("%j → %s", (r, expected) => {
    expect(isRecorded(r)).toBe(expected);
  });
});

describe("history", () => {
  const a = entry({
    id: "20261206T100000000Z-aaaa",
    at: "2026-12-06T10:00:00.000Z",
    service: "elm-lang.org",
    from: null,
    to: "1.0.0",
  });
  const b = entry({ id: "20261206T110000000Z-bbbb", service: "package.elm-lang.org", to: "1.0.0" });
  const c = entry({
    id: "20261206T120000000Z-cccc",
    outcome: "reverted",
    exitCode: 1,
    to: "1.0.2",
  });

  it("newest first, one service's, at most --limit", () => {
    expect(selectHistory([b, c, a], {}).map((e) => e.id)).toEqual([c.id, b.id, a.id]);
    expect(selectHistory([b, c, a], { service: "elm-lang.org" }).map((e) => e.id)).toEqual([
      c.id,
      a.id,
    ]);
    expect(selectHistory([b, c, a], { limit: 1 }).map((e) => e.id)).toEqual([c.id]);
  });

  it("a table with a header and one aligned row per entry; an empty ledger says so", () => {
    const lines = formatHistory(selectHistory([a, c], {})).split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID\s+WHEN\s+WHO\s+WHAT\s+JOB\s+OUTCOME\s+TOOK\s+COMMIT$/);
    expect(lines[1]).toContain("deploy elm-lang.org 1.0.0 → 1.0.2");
    expect(lines[1]).toContain("reverted (1)");
    expect(lines[2]).toContain("deploy elm-lang.org none → 1.0.0");
    expect(lines[2]).toContain("2026-12-06 10:00:00Z");
    expect(lines[2]).toContain("0b53f07aa1c2");
    const job = lines[0]!.indexOf("JOB");
    expect(lines.map((l) => l.slice(job, job + 3).trim())).toEqual(["JOB", "7", "7"]);
    expect(formatHistory([])).toBe("no entry in the ledger yet");
  });

  it("the notification: Slack's text and the entry itself", () => {
    expect(notificationBody(c)).toEqual({
      text: "elm-infra [production] deploy elm-lang.org 1.0.0 → 1.0.2 reverted (exit 1) in 42.1s, by Jane Doe <jane@example.org>, commit 0b53f07aa1c2",
      elmInfra: c,
    });
  });
});

describe("rollback --entry: the version an entry may go back to", () => {
  const deployOf = entry({ id: "e1" });
  it.each<[string, LedgerEntry | undefined, string, RegExp]>([
    ["an unknown id", undefined, "elm-lang.org", /^no ledger entry e1$/],
    [
      "a scale",
      entry({ command: "scale", service: null }),
      "elm-lang.org",
      /is a scale, not a deploy or rollback/,
    ],
    [
      "another service's deploy",
      deployOf,
      "package.elm-lang.org",
      /is a deploy of elm-lang.org, not of package.elm-lang.org/,
    ],
    [
      "a deploy that was reverted",
      entry({ outcome: "reverted" }),
      "elm-lang.org",
      /reverted: its version never served/,
    ],
    [
      "a deploy that failed",
      entry({ outcome: "failed" }),
      "elm-lang.org",
      /failed: its version never served/,
    ],
  ])("refuses %s with exit 2", (_what, e, service, message) => {
    let thrown: unknown;
    try {
      versionOfEntry(e, "e1", service);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as UsageError).exitCode).toBe(2);
    expect((thrown as UsageError).message).toMatch(message);
    expect((thrown as UsageError).hint).toBe(`see the entries with: elm-infra history ${service}`);
  });

  it("gives the `to` of a deploy or rollback of that service that succeeded", () => {
    expect(versionOfEntry(deployOf, "e1", "elm-lang.org")).toBe("1.0.1");
    expect(versionOfEntry(entry({ command: "rollback", to: "0.9.0" }), "e1", "elm-lang.org")).toBe(
      "0.9.0",
    );
  });
});
