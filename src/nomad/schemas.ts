/**
 * The shapes of Nomad's answers elm-infra reads, checked at the client (src/http.ts): the fields
 * the code relies on, with their types; every other field is kept as Nomad sent it (servers add
 * fields across versions). types.ts derives the TypeScript types from these. Field names are
 * Nomad's. A list or map Nomad may send as null (Go's nil) is read as absent.
 */
import { z } from "zod";
import { absentIfNull } from "../http.js";

const stringMap = z.record(z.string(), z.string());

const updateStrategy = z.looseObject({
  Canary: z.number().optional(),
  ProgressDeadline: z.number().optional(),
  HealthyDeadline: z.number().optional(),
  MinHealthyTime: z.number().optional(),
});

export const job = z.looseObject({
  ID: z.string(),
  Name: z.string().optional(),
  Type: z.string().optional(),
  Version: z.number().optional(),
  Stable: z.boolean().optional(),
  Status: z.string().optional(),
  JobModifyIndex: z.number().optional(),
  Meta: stringMap.nullish(),
  TaskGroups: absentIfNull(
    z.array(
      z.looseObject({
        Name: z.string(),
        Count: z.number(),
        Update: updateStrategy.nullish(),
        Tasks: absentIfNull(
          z.array(
            z.looseObject({
              Name: z.string(),
              Config: absentIfNull(z.record(z.string(), z.unknown())),
            }),
          ),
        ),
      }),
    ),
  ),
  Update: z
    .looseObject({
      ProgressDeadline: z.number().optional(),
      HealthyDeadline: z.number().optional(),
    })
    .nullish(),
});

export const jobVersions = z.looseObject({ Versions: z.array(job) });

export interface FieldDiff {
  Type: string;
  Name: string;
  Old: string;
  New: string;
  Annotations?: string[] | null;
}
export interface ObjectDiff {
  Type: string;
  Name: string;
  Fields?: FieldDiff[] | null;
  Objects?: ObjectDiff[] | null;
}

const fieldDiff: z.ZodType<FieldDiff> = z.looseObject({
  Type: z.string(),
  Name: z.string(),
  Old: z.string(),
  New: z.string(),
  Annotations: z.array(z.string()).nullish(),
});
const objectDiff: z.ZodType<ObjectDiff> = z.looseObject({
  Type: z.string(),
  Name: z.string(),
  Fields: z.array(fieldDiff).nullish(),
  get Objects() {
    return z.array(objectDiff).nullish();
  },
});

/** What every level of a diff has: its kind, name, changed fields and nested objects. */
const diffed = {
  Type: z.string(),
  Name: z.string(),
  Fields: z.array(fieldDiff).nullish(),
  Objects: z.array(objectDiff).nullish(),
};

const jobDiff = z.looseObject({
  Type: z.enum(["None", "Added", "Deleted", "Edited"]),
  Fields: diffed.Fields,
  Objects: diffed.Objects,
  TaskGroups: z
    .array(
      z.looseObject({
        ...diffed,
        Tasks: z
          .array(z.looseObject({ ...diffed, Annotations: z.array(z.string()).nullish() }))
          .nullish(),
        Updates: z.record(z.string(), z.number()).nullish(),
      }),
    )
    .nullish(),
});

export const jobPlan = z.looseObject({
  JobModifyIndex: z.number(),
  Diff: jobDiff.nullish(),
  Annotations: z
    .looseObject({
      DesiredTGUpdates: absentIfNull(z.record(z.string(), z.record(z.string(), z.number()))),
    })
    .nullish(),
  FailedTGAllocs: z.record(z.string(), z.unknown()).nullish(),
  Warnings: z.string().optional(),
});

export const jobRegistration = z.looseObject({
  EvalID: z.string(),
  JobModifyIndex: z.number(),
  Warnings: z.string().optional(),
});

export const evaluationCreated = z.looseObject({ EvalID: z.string() });
/** An answer nothing is read from (a signal sent): any JSON. */
export const anything = z.unknown();

export const evaluation = z.looseObject({
  ID: z.string(),
  Status: z.string(),
  StatusDescription: z.string().optional(),
  FailedTGAllocs: z.record(z.string(), z.unknown()).nullish(),
});

const deploymentTaskGroupState = z.looseObject({
  AutoRevert: z.boolean(),
  AutoPromote: z.boolean(),
  Promoted: z.boolean(),
  DesiredCanaries: z.number(),
  DesiredTotal: z.number(),
  PlacedAllocs: z.number(),
  HealthyAllocs: z.number(),
  UnhealthyAllocs: z.number(),
  PlacedCanaries: z.array(z.string()).nullish(),
  RequireProgressBy: z.string().optional(),
});

export const deployment = z.looseObject({
  ID: z.string(),
  JobID: z.string(),
  JobVersion: z.number(),
  Status: z.enum([
    "running",
    "paused",
    "failed",
    "successful",
    "cancelled",
    "pending",
    "blocked",
    "unblocking",
    "initializing",
  ]),
  StatusDescription: z.string(),
  TaskGroups: z.preprocess((v) => v ?? {}, z.record(z.string(), deploymentTaskGroupState)),
  ModifyIndex: z.number(),
});

export const taskEvent = z.looseObject({
  Type: z.string(),
  Time: z.number(),
  DisplayMessage: z.string().optional(),
  Details: absentIfNull(stringMap),
  ExitCode: z.number().optional(),
});

export const allocationStub = z.looseObject({
  ID: z.string(),
  Name: z.string(),
  JobID: z.string().optional(),
  /** "service", "system", "batch", "sysbatch". */
  JobType: z.string().optional(),
  NodeID: z.string(),
  NodeName: z.string().optional(),
  JobVersion: z.number(),
  TaskGroup: z.string(),
  ClientStatus: z.string(),
  DesiredStatus: z.string(),
  DeploymentStatus: z
    .looseObject({ Healthy: z.boolean().nullish(), Canary: z.boolean().optional() })
    .nullish(),
  TaskStates: z
    .record(
      z.string(),
      z.looseObject({
        State: z.string(),
        Failed: z.boolean(),
        /** When the task last started (a restart in place moves it). */
        StartedAt: z.string().nullish(),
        Events: z.array(taskEvent).nullish(),
      }),
    )
    .nullish(),
  CreateIndex: z.number(),
  ModifyIndex: z.number(),
  /** When the allocation last changed, in ns since the epoch. */
  ModifyTime: z.number().optional(),
});

/**
 * A whole allocation (GET /v1/allocation/:id, /v1/node/:id/allocations), read as a stub: Nomad
 * sends JobVersion and JobType on stubs only, and the whole one carries its Job instead.
 */
export const allocation = z.preprocess((value) => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const job = (value as { Job?: { Type?: unknown; Version?: unknown } | null }).Job;
  return { JobType: job?.Type, JobVersion: job?.Version, ...value };
}, allocationStub);

export const node = z.looseObject({
  ID: z.string(),
  Name: z.string(),
  Status: z.string(),
  SchedulingEligibility: z.string(),
  Drain: z.boolean(),
  /** Set while a drain runs; null once it is done or cancelled. */
  DrainStrategy: z
    .looseObject({ Deadline: z.number().optional(), ForceDeadline: z.string().optional() })
    .nullish(),
  /** The last drain's outcome: "draining", "complete" or "canceled". */
  LastDrain: z
    .looseObject({
      Status: z.string().optional(),
      StartedAt: z.string().optional(),
      UpdatedAt: z.string().optional(),
    })
    .nullish(),
  Address: z.string().optional(),
  NodePool: z.string().optional(),
  Version: z.string().optional(),
  /** Each task driver's fingerprint: a job can be placed once its driver is healthy. */
  Drivers: absentIfNull(
    z.record(
      z.string(),
      z
        .looseObject({
          Healthy: z.boolean().optional(),
          Detected: z.boolean().optional(),
          HealthDescription: z.string().optional(),
        })
        .optional(),
    ),
  ),
});

/** A Nomad variable: a secret map of strings only jobs allowed to read it (and ACLs) can see. */
export const variable = z.looseObject({
  Path: z.string(),
  Namespace: z.string().optional(),
  Items: stringMap,
  ModifyIndex: z.number().optional(),
  /** A lock on the variable: its id is shown to a management token only. */
  Lock: absentIfNull(z.looseObject({ ID: z.string().optional() })),
});

export const raftConfiguration = z.looseObject({
  Servers: z.array(
    z.looseObject({
      ID: z.string(),
      Node: z.string(),
      Address: z.string(),
      Leader: z.boolean(),
      Voter: z.boolean(),
    }),
  ),
});

/** Autopilot's view of the servers (Nomad's and Consul's answers have this shape). */
export const autopilotHealth = z.looseObject({
  Healthy: z.boolean(),
  FailureTolerance: z.number(),
  Servers: z.array(
    z.looseObject({
      ID: z.string().optional(),
      Name: z.string(),
      Healthy: z.boolean(),
      Leader: z.boolean(),
      Voter: z.boolean().optional(),
    }),
  ),
});

/** The servers' gossip pool (Status "alive", "left", "failed"); names are `<name>.<region>`. */
export const serverMembers = z.looseObject({
  Members: z
    .array(z.looseObject({ Name: z.string(), Addr: z.string(), Status: z.string() }))
    .nullish(),
});

/** The raft leader's address; empty while there is none. */
export const leader = z.string();

export const aclToken = z.looseObject({ AccessorID: z.string(), SecretID: z.string() });

export const gossipKeys = z.looseObject({ Keys: absentIfNull(z.record(z.string(), z.number())) });

/** One entry of GET /v1/jobs: enough to tell a periodic job's runs apart and how they ended. */
export const jobListStub = z.looseObject({
  ID: z.string(),
  ParentID: z.string().optional(),
  Status: z.string(),
  /** Moves on every registration of a changed job (Nomad's list has no Version). */
  JobModifyIndex: z.number(),
  /** Nanoseconds since the epoch. */
  SubmitTime: z.number(),
  JobSummary: z
    .looseObject({
      Summary: absentIfNull(
        z.record(
          z.string(),
          z.looseObject({
            Complete: z.number().optional(),
            Failed: z.number().optional(),
            Running: z.number().optional(),
          }),
        ),
      ),
    })
    .nullish(),
});
