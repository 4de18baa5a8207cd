import { afterEach, describe, expect, it } from "vitest";
import { ConflictError, InterruptedError, OperationError } from "../../../src/errors.js";
import { forgetSecrets, registerSecret } from "../../../src/output/redact.js";
import { runStep, runSteps, StepTimings, type Step } from "../../../src/tasks/runner.js";
import { captureOutput } from "../../support/capture-output.js";

/** Plain lines with the step durations taken out, so they can be compared exactly. */
const withoutTimes = (lines: string[]) => lines.map((l) => l.replace(/ \(\d+\.\ds\)/, ""));

interface Ctx {
  ran: string[];
  imageExists?: boolean;
}

const step = (title: string, extra: Partial<Step<Ctx>> = {}): Step<Ctx> => ({
  title,
  run: (ctx) => {
    ctx.ran.push(title);
  },
  ...extra,
});

const never = new AbortController().signal;

afterEach(() => forgetSecrets());

describe("runSteps in plain mode", () => {
  it("runs steps in order and prints one line as each starts and ends, logs under the step", async () => {
    const { output, stdout, stderr } = captureOutput("plain");
    const steps: Step<Ctx>[] = [
      step("render job"),
      step("submit job", {
        run: async (ctx, s) => {
          s.log("evaluation 1 created");
          await new Promise((r) => setTimeout(r, 5));
          s.log("deployment started");
          ctx.ran.push("submit job");
        },
      }),
      step("prove through Traefik"),
    ];
    const ctx = await runSteps(steps, { ran: [] }, { output, signal: never });
    expect(ctx.ran).toEqual(["render job", "submit job", "prove through Traefik"]);
    expect(stdout()).toEqual([]);
    expect(withoutTimes(stderr())).toEqual([
      "▶ render job",
      "✔ render job",
      "▶ submit job",
      "  evaluation 1 created",
      "  deployment started",
      "✔ submit job",
      "▶ prove through Traefik",
      "✔ prove through Traefik",
    ]);
    expect(stderr()[1]).toMatch(/^✔ render job \(\d+\.\ds\)$/);
  });

  it("runStep: one step, its lines printed like any other, its work's value returned", async () => {
    const { output, stderr } = captureOutput("plain");
    const value = await runStep(
      "take a backup",
      async (s) => {
        s.log("archive written");
        return { files: 3 };
      },
      { output, signal: never },
    );
    expect(value).toEqual({ files: 3 });
    expect(withoutTimes(stderr())).toEqual([
      "▶ take a backup",
      "  archive written",
      "✔ take a backup",
    ]);
  });

  it("reports skipped steps with their reason and does not run them", async () => {
    const { output, stderr } = captureOutput("plain");
    const steps = [
      step("build image", { skip: (ctx) => (ctx.imageExists ? "already in the registry" : false) }),
      step("submit job"),
    ];
    const ctx = await runSteps(steps, { ran: [], imageExists: true }, { output, signal: never });
    expect(ctx.ran).toEqual(["submit job"]);
    expect(withoutTimes(stderr())).toEqual([
      "↓ build image [skipped: already in the registry]",
      "▶ submit job",
      "✔ submit job",
    ]);
  });

  it.each([
    [
      "OperationError",
      new OperationError(
        "deployment failed: 2 allocations unhealthy\ndetails follow",
        "see nomad alloc logs",
      ),
    ],
    ["ConflictError", new ConflictError("lock held by alice")],
    ["TypeError", new TypeError("boom")],
  ])("a failing step (%s) stops the run and rethrows the same error", async (_name, thrown) => {
    const { output, stderr } = captureOutput("plain");
    const steps = [
      step("submit job"),
      step("watch deployment", {
        run: () => {
          throw thrown;
        },
      }),
      step("prove through Traefik"),
    ];
    const ctx: Ctx = { ran: [] };
    const error = await runSteps(steps, ctx, { output, signal: never }).catch((e: unknown) => e);
    expect(error).toBe(thrown);
    expect(error).toBeInstanceOf(thrown.constructor);
    expect(ctx.ran).toEqual(["submit job"]);
    const firstLine = thrown.message.split("\n")[0];
    expect(withoutTimes(stderr())).toEqual([
      "▶ submit job",
      "✔ submit job",
      "▶ watch deployment",
      `✖ watch deployment: ${firstLine}`,
    ]);
  });

  it("setTitle renames the step in the lines that follow", async () => {
    const { output, stderr } = captureOutput("plain");
    const steps = [
      step("watch deployment", {
        run: (_ctx, s) => {
          s.setTitle("watch deployment 3f1c");
          s.log("healthy");
        },
      }),
    ];
    await runSteps(steps, { ran: [] }, { output, signal: never });
    expect(withoutTimes(stderr())).toEqual([
      "▶ watch deployment",
      "  healthy",
      "✔ watch deployment 3f1c",
    ]);
  });

  it("does not start a step once interrupted", async () => {
    const { output } = captureOutput("plain");
    const abort = new AbortController();
    const steps = [
      step("drain worker", {
        run: (ctx) => {
          ctx.ran.push("drain worker");
          abort.abort();
        },
      }),
      step("destroy worker"),
    ];
    const ctx: Ctx = { ran: [] };
    await expect(runSteps(steps, ctx, { output, signal: abort.signal })).rejects.toBeInstanceOf(
      InterruptedError,
    );
    expect(ctx.ran).toEqual(["drain worker"]);
  });

  it("redacts secrets in step logs and failures", async () => {
    const token = "3f1c9a2e-7b4d-4e8a-9c1f-2d5b6a7e8f90";
    registerSecret(token);
    const { output, stderr } = captureOutput("plain");
    const steps = [
      step("log in", {
        run: (_ctx, s) => {
          s.log(`using token ${token}`);
          throw new OperationError(`token ${token} rejected`);
        },
      }),
    ];
    await expect(runSteps(steps, { ran: [] }, { output, signal: never })).rejects.toBeInstanceOf(
      OperationError,
    );
    expect(stderr().join("\n")).not.toContain(token);
    expect(withoutTimes(stderr())).toEqual([
      "▶ log in",
      "  using token [redacted]",
      "✖ log in: token [redacted] rejected",
    ]);
  });
});

describe("runSteps in JSON mode", () => {
  it("every event is a JSON line on stdout: started, logs tagged with the step, completed, skipped, failed", async () => {
    const { output, stdout, stderr } = captureOutput("json");
    const failure = new OperationError("submit refused");
    const steps = [
      step("build image", { skip: () => "already in the registry" }),
      step("render job", { run: (_c, s) => s.log("12 lines") }),
      step("submit job", {
        run: () => {
          throw failure;
        },
      }),
      step("prove through Traefik"),
    ];
    await expect(runSteps(steps, { ran: [] }, { output, signal: never })).rejects.toBe(failure);
    expect(stderr()).toEqual([]);
    const events = stdout().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toEqual([
      { type: "task", state: "skipped", title: "build image", reason: "already in the registry" },
      { type: "task", state: "started", title: "render job" },
      { type: "log", level: "info", message: "12 lines", task: "render job" },
      { type: "task", state: "completed", title: "render job", ms: expect.any(Number) },
      { type: "task", state: "started", title: "submit job" },
      {
        type: "task",
        state: "failed",
        title: "submit job",
        ms: expect.any(Number),
        error: "submit refused",
      },
    ]);
  });
});

describe("the runner measures each step", () => {
  it("records every step's time under its phase, failed ones too; phases add up", async () => {
    const { output } = captureOutput("json");
    const timings = new StepTimings();
    const wait = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));
    await runSteps(
      [step("render", { run: wait(20) }), step("plan", { run: wait(30) })],
      { ran: [] },
      { output, signal: never, timings, phase: "plan" },
    );
    const failure = new OperationError("refused");
    await expect(
      runSteps(
        [
          step("skipped", { skip: () => "not needed" }),
          step("submit", {
            run: async () => {
              await wait(10)();
              throw failure;
            },
          }),
        ],
        { ran: [] },
        { output, signal: never, timings, phase: "submit" },
      ),
    ).rejects.toBe(failure);
    expect(timings.steps.map(({ title, phase, state }) => `${phase} ${title} ${state}`)).toEqual([
      "plan render completed",
      "plan plan completed",
      "submit submit failed",
    ]);
    const [render, plan, submit] = timings.steps.map((s) => s.ms) as [number, number, number];
    expect(render).toBeGreaterThanOrEqual(15);
    expect(plan).toBeGreaterThanOrEqual(25);
    expect(submit).toBeGreaterThanOrEqual(5);
    const phases = timings.byPhase();
    expect(Object.keys(phases).sort()).toEqual(["plan", "submit", "total"]);
    expect(phases.plan).toBe(render + plan);
    expect(phases.submit).toBe(submit);
    expect(phases.total).toBeGreaterThanOrEqual(render + plan + submit - 2);
  });
});

describe("steps declare what they need from earlier ones", () => {
  interface Job {
    hcl?: string;
    job?: { id: string };
    ran: string[];
  }
  const render: Step<Job> = {
    title: "Render",
    gives: ["hcl"],
    run: (s) => void ((s.hcl = "job {}"), s.ran.push("Render")),
  };
  const validate: Step<Job> = {
    title: "Validate",
    needs: ["hcl"],
    gives: ["job"],
    run: (s) => void ((s.job = { id: s.hcl! }), s.ran.push("Validate")),
  };
  const submit: Step<Job> = {
    title: "Submit",
    needs: ["job"],
    run: (s) => void s.ran.push("Submit"),
  };

  it("a misordered list fails before any step runs, naming the step and what it lacks", async () => {
    const { output } = captureOutput("plain");
    const ctx: Job = { ran: [] };
    const error = await runSteps([render, submit, validate], ctx, { output, signal: never }).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe(
      'step "Submit" needs job, which no step before it gives (the steps are in the wrong order)',
    );
    expect(ctx.ran).toEqual([]);
  });

  it("in order, or given at the start, the steps run", async () => {
    const { output } = captureOutput("plain");
    const ctx = await runSteps([render, validate, submit], { ran: [] } as Job, {
      output,
      signal: never,
    });
    expect(ctx.ran).toEqual(["Render", "Validate", "Submit"]);
    const later = await runSteps([submit], { ran: [], job: { id: "x" } } as Job, {
      output,
      signal: never,
    });
    expect(later.ran).toEqual(["Submit"]);
  });
});
