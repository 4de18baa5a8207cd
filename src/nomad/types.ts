/**
 * The parts of Nomad's API objects elm-infra reads: derived from the schemas its answers are
 * checked against (schemas.ts), so the types and the checks are one. Field names are Nomad's.
 */
import type { z } from "zod";
import type * as schemas from "./schemas.js";

export type { FieldDiff, ObjectDiff } from "./schemas.js";

export type NomadJob = z.output<typeof schemas.job>;
export type JobPlan = z.output<typeof schemas.jobPlan>;
export type JobDiff = NonNullable<JobPlan["Diff"]>;
export type Deployment = z.output<typeof schemas.deployment>;
export type DeploymentTaskGroupState = Deployment["TaskGroups"][string];
export type TaskEvent = z.output<typeof schemas.taskEvent>;
export type AllocationStub = z.output<typeof schemas.allocationStub>;
export type NomadNode = z.output<typeof schemas.node>;
/** A Nomad variable: a secret map of strings only jobs allowed to read it (and ACLs) can see. */
export type NomadVariable = z.output<typeof schemas.variable>;
export type RaftConfiguration = z.output<typeof schemas.raftConfiguration>;
/** One entry of GET /v1/jobs: enough to tell a periodic job's runs apart and how they ended. */
export type JobListStub = z.output<typeof schemas.jobListStub>;
/** Autopilot's view of the servers (Nomad's and Consul's answers have this shape). */
export type AutopilotHealth = z.output<typeof schemas.autopilotHealth>;
