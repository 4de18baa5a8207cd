/**
 * The schemas the clients check answers against accept what real Nomad 1.10, Consul and Traefik
 * v3.6 said (test/fixtures/answers/, recorded from real agents by
 * test/integration/real-answers.test.ts), and read them as the code expects.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { describeShapeProblem } from "../../src/http.js";
import * as nomad from "../../src/nomad/schemas.js";
import { answerSchemas } from "../support/answer-fixtures.js";

const fixtures = resolve(import.meta.dirname, "../fixtures/answers");
const real = (name: string): unknown =>
  JSON.parse(readFileSync(join(fixtures, `${name}.json`), "utf8"));

describe("real answers", () => {
  it("every endpoint with a schema has a recorded answer, and every recording a schema", () => {
    const recorded = readdirSync(fixtures)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -5))
      .sort();
    expect(recorded).toEqual(Object.keys(answerSchemas).sort());
  });

  it.each(Object.keys(answerSchemas))("%s passes its schema", (name) => {
    const parsed = answerSchemas[name]!.safeParse(real(name));
    expect(parsed.success ? "accepted" : describeShapeProblem(parsed.error, 10)).toBe("accepted");
  });
});

describe("read as the code expects", () => {
  it("a whole allocation is read as a stub: its JobType and JobVersion come from its Job", () => {
    const alloc = nomad.allocation.parse(real("nomad-allocation"));
    expect(alloc).toMatchObject({ JobType: "service", JobVersion: 0, JobID: "web" });
    const onNode = nomad.allocation.array().parse(real("nomad-node-allocations"));
    expect(onNode.map((a) => a.JobType)).toEqual(["service"]);
  });

  it("a failed allocation's task events are there to explain it", () => {
    const [alloc] = nomad.allocationStub.array().parse(real("nomad-job-allocations"));
    const events = alloc!.TaskStates?.web?.Events ?? [];
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => typeof e.Type === "string" && typeof e.Time === "number")).toBe(
      true,
    );
  });

  it("the extra fields of an answer are kept (a job is sent back to Nomad as it came)", () => {
    const job = nomad.job.parse(real("nomad-jobs-parse"));
    expect(Object.keys(job).sort()).toEqual(Object.keys(real("nomad-jobs-parse") as object).sort());
  });

  it("Nomad's job list has no Version: the JobModifyIndex is what moves on a registration", () => {
    const [stub] = nomad.jobListStub.array().parse(real("nomad-jobs-prefix"));
    expect(stub).not.toHaveProperty("Version");
    expect(stub!.JobModifyIndex).toBeGreaterThan(0);
  });
});
