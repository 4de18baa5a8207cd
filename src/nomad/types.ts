/** The parts of Nomad's API objects elm-infra reads. Field names are Nomad's. */
export interface NomadJob {
  ID: string;
  Name?: string;
  Type?: string;
  Version?: number;
  Stable?: boolean;
  Status?: string;
  JobModifyIndex?: number;
  Meta?: Record<string, string> | null;
  TaskGroups?: Array<{
    Name: string;
    Count: number;
    Update?: {
      Canary?: number;
      ProgressDeadline?: number;
      HealthyDeadline?: number;
      MinHealthyTime?: number;
    } | null;
    Tasks?: Array<{ Name: string; Config?: Record<string, unknown> }>;
  }>;
  Update?: { ProgressDeadline?: number; HealthyDeadline?: number } | null;
  [key: string]: unknown;
}

export interface JobDiff {
  Type: "None" | "Added" | "Deleted" | "Edited";
  Fields?: FieldDiff[] | null;
  Objects?: ObjectDiff[] | null;
  TaskGroups?: Array<{
    Type: string;
    Name: string;
    Fields?: FieldDiff[] | null;
    Objects?: ObjectDiff[] | null;
    Tasks?: Array<{
      Type: string;
      Name: string;
      Fields?: FieldDiff[] | null;
      Objects?: ObjectDiff[] | null;
      Annotations?: string[] | null;
    }> | null;
    Updates?: Record<string, number> | null;
  }> | null;
}
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

export interface JobPlan {
  JobModifyIndex: number;
  Diff?: JobDiff | null;
  Annotations?: { DesiredTGUpdates?: Record<string, Record<string, number>> } | null;
  FailedTGAllocs?: Record<string, unknown> | null;
  Warnings?: string;
}

export interface DeploymentTaskGroupState {
  AutoRevert: boolean;
  AutoPromote: boolean;
  Promoted: boolean;
  DesiredCanaries: number;
  DesiredTotal: number;
  PlacedAllocs: number;
  HealthyAllocs: number;
  UnhealthyAllocs: number;
  PlacedCanaries?: string[] | null;
  RequireProgressBy?: string;
}

export interface Deployment {
  ID: string;
  JobID: string;
  JobVersion: number;
  Status:
    | "running"
    | "paused"
    | "failed"
    | "successful"
    | "cancelled"
    | "pending"
    | "blocked"
    | "unblocking"
    | "initializing";
  StatusDescription: string;
  TaskGroups: Record<string, DeploymentTaskGroupState>;
  ModifyIndex: number;
}

export interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage?: string;
  Details?: Record<string, string>;
  ExitCode?: number;
}

export interface AllocationStub {
  ID: string;
  Name: string;
  JobID?: string;
  /** "service", "system", "batch", "sysbatch". */
  JobType?: string;
  NodeID: string;
  NodeName?: string;
  JobVersion: number;
  TaskGroup: string;
  ClientStatus: string;
  DesiredStatus: string;
  DeploymentStatus?: { Healthy?: boolean | null; Canary?: boolean } | null;
  TaskStates?: Record<
    string,
    { State: string; Failed: boolean; Events?: TaskEvent[] | null }
  > | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface NomadNode {
  ID: string;
  Name: string;
  Status: string;
  SchedulingEligibility: string;
  Drain: boolean;
  /** Set while a drain runs; null once it is done or cancelled. */
  DrainStrategy?: { Deadline?: number; ForceDeadline?: string } | null;
  /** The last drain's outcome: "draining", "complete" or "canceled". */
  LastDrain?: { Status?: string; StartedAt?: string; UpdatedAt?: string } | null;
  Address?: string;
  NodePool?: string;
  Version?: string;
  /** Each task driver's fingerprint: a job can be placed once its driver is healthy. */
  Drivers?: Record<
    string,
    { Healthy?: boolean; Detected?: boolean; HealthDescription?: string } | undefined
  >;
}

/** A Nomad variable: a secret map of strings only jobs allowed to read it (and ACLs) can see. */
export interface NomadVariable {
  Path: string;
  Namespace?: string;
  Items: Record<string, string>;
  ModifyIndex?: number;
}

export interface RaftConfiguration {
  Servers: Array<{ ID: string; Node: string; Address: string; Leader: boolean; Voter: boolean }>;
}

/** One entry of GET /v1/jobs: enough to tell a periodic job's runs apart and how they ended. */
export interface JobListStub {
  ID: string;
  ParentID?: string;
  Status: string;
  /** The job's version: it moves on every registration of a changed job. */
  Version: number;
  /** Nanoseconds since the epoch. */
  SubmitTime: number;
  JobSummary?: {
    Summary?: Record<string, { Complete?: number; Failed?: number; Running?: number }>;
  } | null;
}
