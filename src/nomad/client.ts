import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { z } from "zod";
import { ConflictError, OperationError } from "../errors.js";
import {
  buildUrl,
  HttpError,
  JsonApi,
  PermissionDeniedError,
  textAnswer,
  unreadAnswer,
  type HttpCall,
} from "../http.js";
import { execQuery, runExecSession, type ExecRequest } from "./exec.js";
import { nomadPermissionFor } from "./permissions.js";
import * as answers from "./schemas.js";
import type {
  AllocationStub,
  AutopilotHealth,
  Deployment,
  JobListStub,
  JobPlan,
  NomadJob,
  NomadNode,
  NomadVariable,
  RaftConfiguration,
} from "./types.js";

export type { AutopilotHealth } from "./types.js";

export interface NomadClientOptions {
  address: string;
  /** How messages name the address (a tunnel's local port means nothing to the user). */
  where?: string;
  token?: string;
  /** Deadline of a call that should answer at once; blocking queries add their wait to it. */
  deadlineMs?: number;
  dispatcher?: Dispatcher;
  /** Called once per HTTP request: lets a benchmark count the calls. */
  onRequest?: (method: string, path: string) => void;
}

/** A blocking query: returns when the index moves past `index` or after `wait`. */
export interface Blocking {
  index?: number;
  waitSeconds?: number;
  signal?: AbortSignal;
}

export interface Indexed<T> {
  data: T;
  index: number;
}

/** Typed client of the Nomad HTTP API. The ACL token travels as a header, never in the URL. */
export class NomadClient {
  private readonly api: JsonApi;
  constructor(private readonly options: NomadClientOptions) {
    this.api = new JsonApi({
      name: "Nomad",
      address: options.address,
      ...(options.where ? { where: options.where } : {}),
      headers: options.token ? { "X-Nomad-Token": options.token } : {},
      ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
  }

  get address(): string {
    return this.options.address;
  }

  /** One call; its answer is checked against `call.answer` (schemas.ts). */
  private async call<S extends z.ZodType>(
    call: HttpCall<S>,
    blocking?: Blocking,
  ): Promise<Indexed<z.output<S>>> {
    const query = { ...call.query };
    let waitSeconds: number | undefined;
    if (blocking?.index !== undefined) {
      waitSeconds = blocking.waitSeconds ?? 30;
      query.index = blocking.index;
      query.wait = `${waitSeconds}s`;
    }
    this.options.onRequest?.(call.method, call.path);
    const signal = blocking?.signal ?? call.signal;
    try {
      const res = await this.api.call({
        ...call,
        query,
        ...(waitSeconds !== undefined ? { waitSeconds } : {}),
        ...(signal ? { signal } : {}),
      });
      return { data: res.data, index: Number(res.headers["x-nomad-index"] ?? 0) };
    } catch (error) {
      throw explainNomadError(error, this.api.where);
    }
  }

  // jobs
  async parseJob(hcl: string): Promise<NomadJob> {
    return (
      await this.call({
        method: "POST",
        path: "/v1/jobs/parse",
        answer: answers.job,
        body: { JobHCL: hcl, Canonicalize: true },
      })
    ).data;
  }
  async readJob(id: string, blocking?: Blocking): Promise<NomadJob | undefined> {
    try {
      return (
        await this.call(
          { method: "GET", path: `/v1/job/${encodeURIComponent(id)}`, answer: answers.job },
          blocking,
        )
      ).data;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return undefined;
      throw error;
    }
  }
  async planJob(job: NomadJob): Promise<JobPlan> {
    return (
      await this.call({
        method: "POST",
        path: `/v1/job/${encodeURIComponent(job.ID)}/plan`,
        answer: answers.jobPlan,
        body: { Job: job, Diff: true },
      })
    ).data;
  }
  /** Registers only if the job is still at `jobModifyIndex` (0: only if it does not exist). */
  async registerJob(
    job: NomadJob,
    jobModifyIndex: number,
  ): Promise<{ EvalID: string; JobModifyIndex: number; Warnings?: string }> {
    return (
      await this.call({
        method: "POST",
        path: "/v1/jobs",
        answer: answers.jobRegistration,
        body: { Job: job, EnforceIndex: true, JobModifyIndex: jobModifyIndex },
      })
    ).data;
  }
  /** Starts a periodic job's run now (as its schedule would); the run is a child job. */
  async forcePeriodicJob(id: string): Promise<{ EvalID: string }> {
    return (
      await this.call({
        method: "POST",
        path: `/v1/job/${encodeURIComponent(id)}/periodic/force`,
        answer: answers.evaluationCreated,
      })
    ).data;
  }
  /** Jobs whose ID starts with `prefix` (a periodic job's runs: `<id>/periodic-`). */
  async jobsWithPrefix(prefix: string): Promise<JobListStub[]> {
    return (
      await this.call({
        method: "GET",
        path: "/v1/jobs",
        query: { prefix },
        answer: z.array(answers.jobListStub),
      })
    ).data;
  }
  /** Every version Nomad still keeps; none when the job does not exist. */
  async jobVersions(id: string, options: { signal?: AbortSignal } = {}): Promise<NomadJob[]> {
    try {
      return (
        await this.call({
          method: "GET",
          path: `/v1/job/${encodeURIComponent(id)}/versions`,
          answer: answers.jobVersions,
          ...(options.signal ? { signal: options.signal } : {}),
        })
      ).data.Versions;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return [];
      throw error;
    }
  }
  async revertJob(
    id: string,
    version: number,
    enforcePriorVersion?: number,
  ): Promise<{ EvalID: string }> {
    return (
      await this.call({
        method: "POST",
        path: `/v1/job/${encodeURIComponent(id)}/revert`,
        answer: answers.evaluationCreated,
        body: {
          JobID: id,
          JobVersion: version,
          ...(enforcePriorVersion !== undefined
            ? { EnforcePriorVersion: enforcePriorVersion }
            : {}),
        },
      })
    ).data;
  }
  async setJobStable(id: string, version: number, stable: boolean): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/job/${encodeURIComponent(id)}/stable`,
      answer: unreadAnswer,
      body: { JobID: id, JobVersion: version, Stable: stable },
    });
  }
  async stopJob(id: string, purge = false): Promise<void> {
    await this.call({
      method: "DELETE",
      path: `/v1/job/${encodeURIComponent(id)}`,
      answer: unreadAnswer,
      query: { purge },
    });
  }
  async jobAllocations(id: string, blocking?: Blocking): Promise<Indexed<AllocationStub[]>> {
    return this.call(
      {
        method: "GET",
        path: `/v1/job/${encodeURIComponent(id)}/allocations`,
        answer: z.array(answers.allocationStub),
      },
      blocking,
    );
  }
  async latestDeployment(jobId: string, blocking?: Blocking): Promise<Indexed<Deployment | null>> {
    return this.call(
      {
        method: "GET",
        path: `/v1/job/${encodeURIComponent(jobId)}/deployment`,
        answer: answers.deployment.nullable(),
      },
      blocking,
    );
  }

  // deployments
  async deployment(id: string, blocking?: Blocking): Promise<Indexed<Deployment>> {
    return this.call(
      { method: "GET", path: `/v1/deployment/${id}`, answer: answers.deployment },
      blocking,
    );
  }
  async deploymentAllocations(id: string): Promise<AllocationStub[]> {
    return (
      await this.call({
        method: "GET",
        path: `/v1/deployment/allocations/${id}`,
        answer: z.array(answers.allocationStub),
      })
    ).data;
  }
  async promoteDeployment(id: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/deployment/promote/${id}`,
      answer: unreadAnswer,
      body: { DeploymentID: id, All: true },
    });
  }
  async failDeployment(id: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/deployment/fail/${id}`,
      answer: unreadAnswer,
      body: { DeploymentID: id },
    });
  }

  // allocations and evaluations
  async allocation(id: string): Promise<AllocationStub> {
    return (
      await this.call({
        method: "GET",
        path: `/v1/allocation/${id}`,
        answer: answers.allocation,
      })
    ).data;
  }
  /** Stops an allocation; its job's scheduler places a new one (a reschedule, as after a loss). */
  async stopAllocation(id: string): Promise<{ EvalID: string }> {
    return (
      await this.call({
        method: "POST",
        path: `/v1/allocation/${encodeURIComponent(id)}/stop`,
        answer: answers.evaluationCreated,
      })
    ).data;
  }
  /** Sends a signal to one task of a running allocation (its client forwards it to the task). */
  async signalTask(allocId: string, task: string, signal: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/client/allocation/${encodeURIComponent(allocId)}/signal`,
      answer: answers.anything,
      body: { Task: task, Signal: signal },
    });
  }
  /** The last bytes of a task's log, for failure reports. */
  async allocationLogTail(
    allocId: string,
    task: string,
    type: "stdout" | "stderr",
    bytes = 2048,
  ): Promise<string> {
    const res = await this.call({
      method: "GET",
      path: `/v1/client/fs/logs/${allocId}`,
      answer: textAnswer,
      query: { task, type, origin: "end", offset: bytes, plain: true },
    });
    return res.data;
  }
  /**
   * A task's log (`stdout` or `stderr`) as it comes: its last `tailBytes` first, then, with
   * `follow`, what the task writes next until the allocation stops or `signal` aborts (a log
   * read without `follow` is bounded by the client's deadline). The servers forward the call to
   * the client agent that runs the allocation. Needs the namespace's read-logs capability.
   */
  async streamTaskLog(
    allocId: string,
    task: string,
    type: "stdout" | "stderr",
    options: { tailBytes: number; follow: boolean; signal?: AbortSignal },
    onChunk: (chunk: Buffer) => void,
  ): Promise<void> {
    const path = `/v1/client/fs/logs/${encodeURIComponent(allocId)}`;
    this.options.onRequest?.("GET", path);
    try {
      await this.api.stream(
        {
          method: "GET",
          path,
          query: {
            task,
            type,
            origin: "end",
            offset: options.tailBytes,
            plain: true,
            ...(options.follow ? { follow: true } : {}),
          },
          follow: options.follow,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        onChunk,
      );
    } catch (error) {
      throw explainNomadError(error, this.api.where);
    }
  }
  /**
   * Runs `command` in a running allocation's task through Nomad's exec API (a WebSocket the
   * servers forward to the client agent) and returns its exit code. Needs alloc-exec.
   */
  async exec(request: ExecRequest): Promise<number> {
    const path = `/v1/client/allocation/${encodeURIComponent(request.allocId)}/exec`;
    this.options.onRequest?.("GET", path);
    return runExecSession(
      {
        url: buildUrl(this.options.address, path, execQuery(request)),
        where: this.api.where,
        path,
        ...(this.options.token ? { token: this.options.token } : {}),
        ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
      },
      request,
    );
  }
  async evaluation(id: string): Promise<{
    ID: string;
    Status: string;
    StatusDescription?: string;
    FailedTGAllocs?: Record<string, unknown> | null;
  }> {
    return (
      await this.call({
        method: "GET",
        path: `/v1/evaluation/${id}`,
        answer: answers.evaluation,
      })
    ).data;
  }

  // nodes
  async nodes(): Promise<NomadNode[]> {
    return (await this.call({ method: "GET", path: "/v1/nodes", answer: z.array(answers.node) }))
      .data;
  }
  /** One node; with `blocking`, returns when it changes (a drain's progress, its status). */
  async node(id: string, blocking?: Blocking): Promise<Indexed<NomadNode>> {
    return this.call({ method: "GET", path: `/v1/node/${id}`, answer: answers.node }, blocking);
  }
  async nodeAllocations(id: string, blocking?: Blocking): Promise<Indexed<AllocationStub[]>> {
    return this.call(
      {
        method: "GET",
        path: `/v1/node/${id}/allocations`,
        answer: z.array(answers.allocation),
      },
      blocking,
    );
  }
  /** Removes a node from Nomad's state (its allocations are marked lost): for a node that is gone. */
  async purgeNode(id: string): Promise<void> {
    await this.call({ method: "PUT", path: `/v1/node/${id}/purge`, answer: unreadAnswer });
  }
  async drainNode(id: string, deadlineSeconds: number): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/node/${id}/drain`,
      answer: unreadAnswer,
      body: {
        NodeID: id,
        DrainSpec: { Deadline: deadlineSeconds * 1e9, IgnoreSystemJobs: false },
        MarkEligible: false,
      },
    });
  }
  /** Ends a node's drain, if any, and makes it eligible again. */
  async endDrain(id: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/node/${id}/drain`,
      answer: unreadAnswer,
      body: { NodeID: id, DrainSpec: null, MarkEligible: true },
    });
  }
  async setNodeEligibility(id: string, eligible: boolean): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/node/${id}/eligibility`,
      answer: unreadAnswer,
      body: { NodeID: id, Eligibility: eligible ? "eligible" : "ineligible" },
    });
  }

  // operator, status, ACL
  async raftConfiguration(): Promise<RaftConfiguration> {
    return (
      await this.call({
        method: "GET",
        path: "/v1/operator/raft/configuration",
        answer: answers.raftConfiguration,
      })
    ).data;
  }
  /** 429 is an answer too: Nomad says so while a server is unhealthy, with the same body. */
  async autopilotHealth(): Promise<AutopilotHealth> {
    return (
      await this.call({
        method: "GET",
        path: "/v1/operator/autopilot/health",
        answer: answers.autopilotHealth,
        answerStatuses: [429],
      })
    ).data;
  }
  /**
   * Replaces the whole cluster's state with a snapshot (what `nomad operator snapshot save`
   * writes), streamed as it comes: the disaster recovery of lost managers. Management token.
   */
  async restoreSnapshot(snapshot: Readable, signal?: AbortSignal): Promise<void> {
    await this.call({
      method: "PUT",
      path: "/v1/operator/snapshot",
      body: snapshot,
      deadlineMs: 120_000,
      ...(signal ? { signal } : {}),
      answer: unreadAnswer,
    });
  }
  /** Sets the servers this agent's client talks to (`host:4647` each), at once, without a restart. */
  async setClientServers(addresses: readonly string[]): Promise<void> {
    const query = addresses.map((a) => `address=${encodeURIComponent(a)}`).join("&");
    await this.call({ method: "PUT", path: `/v1/agent/servers?${query}`, answer: unreadAnswer });
  }
  /** Removes a server from the raft configuration by its raft ID (a server that is gone). */
  async removeRaftPeer(id: string): Promise<void> {
    await this.call({
      method: "DELETE",
      path: "/v1/operator/raft/peer",
      query: { id },
      answer: unreadAnswer,
    });
  }
  /** Hands raft leadership to the server with this raft ID (a reboot of the leader comes next). */
  async transferLeadership(id: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: "/v1/operator/raft/transfer-leadership",
      query: { id },
      answer: unreadAnswer,
    });
  }
  /** The servers' gossip pool (Status "alive", "left", "failed"); names are `<name>.<region>`. */
  async serverMembers(): Promise<Array<{ Name: string; Addr: string; Status: string }>> {
    return (
      (
        await this.call({
          method: "GET",
          path: "/v1/agent/members",
          answer: answers.serverMembers,
        })
      ).data.Members ?? []
    );
  }
  /** Puts a failed server into the "left" state; `prune` also drops it from the member list. */
  async forceLeaveServer(member: string, prune = true): Promise<void> {
    await this.call({
      method: "POST",
      path: "/v1/agent/force-leave",
      answer: unreadAnswer,
      query: { node: member, ...(prune ? { prune: true } : {}) },
    });
  }
  async leader(): Promise<string> {
    return (await this.call({ method: "GET", path: "/v1/status/leader", answer: answers.leader }))
      .data;
  }
  async aclBootstrap(): Promise<{ AccessorID: string; SecretID: string }> {
    return (
      await this.call({
        method: "POST",
        path: "/v1/acl/bootstrap",
        answer: answers.aclToken,
      })
    ).data;
  }
  /**
   * Creates or replaces an ACL policy (HCL rules). Needs a management token. With `jobId`, the
   * policy is bound to that job's workload identity (every task of the job) instead of tokens.
   */
  async upsertPolicy(name: string, rules: string, description = "", jobId?: string): Promise<void> {
    await this.call({
      method: "POST",
      path: `/v1/acl/policy/${encodeURIComponent(name)}`,
      answer: unreadAnswer,
      body: {
        Name: name,
        Description: description,
        Rules: rules,
        ...(jobId ? { JobACL: { Namespace: "default", JobID: jobId } } : {}),
      },
    });
  }
  async createToken(
    name: string,
    policies: string[],
  ): Promise<{ AccessorID: string; SecretID: string }> {
    return (
      await this.call({
        method: "POST",
        path: "/v1/acl/token",
        answer: answers.aclToken,
        body: { Name: name, Type: "client", Policies: policies },
      })
    ).data;
  }

  /** The gossip encryption keys the servers hold, with how many members use each. */
  async gossipKeys(): Promise<Record<string, number>> {
    return (
      (
        await this.call({
          method: "GET",
          path: "/v1/agent/keyring/list",
          answer: answers.gossipKeys,
        })
      ).data.Keys ?? {}
    );
  }

  /**
   * The servers' gossip keyring (every server at once): install a key (accepted), use it (the
   * one they encrypt with), remove it. Each server keeps its keyring file up to date.
   */
  async installGossipKey(key: string): Promise<void> {
    await this.gossipKeyOperation("install", key);
  }
  async useGossipKey(key: string): Promise<void> {
    await this.gossipKeyOperation("use", key);
  }
  async removeGossipKey(key: string): Promise<void> {
    await this.gossipKeyOperation("remove", key);
  }
  private async gossipKeyOperation(op: "install" | "use" | "remove", key: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/agent/keyring/${op}`,
      answer: unreadAnswer,
      body: { Key: key },
    });
  }

  // variables
  async readVariable(path: string): Promise<NomadVariable | undefined> {
    try {
      return (await this.call({ method: "GET", path: `/v1/var/${path}`, answer: answers.variable }))
        .data;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return undefined;
      throw error;
    }
  }
  /** Creates or replaces a variable (needs variables write on its path: a management token). */
  async writeVariable(path: string, items: Record<string, string>): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/var/${path}`,
      answer: unreadAnswer,
      body: { Namespace: "default", Path: path, Items: items },
    });
  }
  /** Gives back a variable's lock by its id (a management token reads the id of any lock). */
  async releaseVariableLock(path: string, lockId: string): Promise<void> {
    await this.call({
      method: "PUT",
      path: `/v1/var/${path}`,
      query: { "lock-release": "" },
      answer: unreadAnswer,
      body: { Namespace: "default", Path: path, Lock: { ID: lockId } },
    });
  }
  async deleteVariable(path: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/v1/var/${path}`, answer: unreadAnswer });
  }
}

/** Turns Nomad's HTTP errors into what the user can do about them. */
export function explainNomadError(error: unknown, where: string): unknown {
  if (!(error instanceof HttpError)) return error;
  const body = error.body.trim();
  // A call the servers forward to a client agent (a task's log) is refused with 500 and
  // Nomad's "Permission denied" as the whole body: the same refusal as a 403.
  if (error.status === 403 || (error.status === 500 && /^permission denied$/i.test(body))) {
    const permission = nomadPermissionFor(error.call.method, error.call.path);
    return new PermissionDeniedError(
      "Nomad",
      error.call,
      permission,
      where,
      `the Nomad token needs ${permission}; set ELM_INFRA_NOMAD_TOKEN or nomadToken in secrets/<target>.yaml`,
    );
  }
  if (/conflicting job modify index|job modify index/i.test(body) && /enforc/i.test(body)) {
    return new ConflictError(
      `the job changed since the plan (${body})`,
      "someone changed the job meanwhile: run the command again to plan against the new version",
    );
  }
  if (/enforcing version/i.test(body)) {
    return new ConflictError(
      `the job changed since its versions were read (${body})`,
      "someone changed the job meanwhile: run the command again",
    );
  }
  // A plan (or parse) is where Nomad validates a job: refused there, nothing was submitted.
  if (
    (error.status === 400 || error.status === 500) &&
    /\/plan$|\/jobs\/parse$/.test(error.call.path)
  ) {
    return new OperationError(
      `Nomad refused the job (${error.call.method} ${error.call.path}): ${body.slice(0, 500)}`,
      "nothing was submitted: fix the job template (the service's `job` in cluster.yaml) or the values it is given, then run again",
    );
  }
  if (error.status === 400 || error.status === 500) {
    return new OperationError(
      `Nomad ${error.call.method} ${error.call.path} failed: ${body.slice(0, 500)}`,
      "that is Nomad's own reason; `elm-infra status` shows what runs now",
    );
  }
  return error;
}
