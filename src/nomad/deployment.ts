import type { AllocationStub, Deployment, JobPlan, NomadJob } from "./types.js";

/** What a deployment's state means for the deploy command. Pure: table-tested. */
export type DeploymentVerdict =
  | { kind: "progressing" }
  | { kind: "canaries-healthy" }
  | { kind: "successful" }
  | { kind: "unhealthy"; reason: string }
  | { kind: "failed"; reason: string }
  /** Our deadline passed while Nomad still called it running: not Nomad's verdict, ours. */
  | { kind: "timed-out"; reason: string };

/** Statuses of a deployment that Nomad has not finished (one may wait forever for a promotion). */
const activeStatuses = new Set([
  "running",
  "pending",
  "paused",
  "initializing",
  "blocked",
  "unblocking",
]);

/** Pure: is this deployment still under way (so another rollout must not start over it)? */
export function isDeploymentActive(d: Pick<Deployment, "Status"> | null | undefined): boolean {
  return !!d && activeStatuses.has(d.Status);
}

/** What a watch does next: stop with a verdict, or ask Nomad again. */
export type WatchStep = { stop: true; verdict: DeploymentVerdict } | { stop: false };

/**
 * Pure: after seeing `d` at `now`, does the watch stop? A failure or a wanted verdict stops it;
 * otherwise, once the deadline has passed, the watch timed out (distinct from Nomad failing it).
 */
export function judgeWatch(
  d: Deployment,
  watch: {
    until: Array<DeploymentVerdict["kind"]>;
    now: number;
    deadline: number;
    deadlineMs: number;
  },
): WatchStep {
  const verdict = assessDeployment(d);
  if (
    verdict.kind === "failed" ||
    verdict.kind === "unhealthy" ||
    watch.until.includes(verdict.kind)
  )
    return { stop: true, verdict };
  if (watch.now < watch.deadline) return { stop: false };
  const progress = describeProgress(d);
  return {
    stop: true,
    verdict: {
      kind: "timed-out",
      reason: `deployment ${d.ID.slice(0, 8)} is still ${d.Status} after ${Math.round(watch.deadlineMs / 1000)} s (the job's progress_deadline plus a margin)${progress ? `: ${progress}` : ""}`,
    },
  };
}

export function assessDeployment(d: Deployment): DeploymentVerdict {
  if (d.Status === "successful") return { kind: "successful" };
  if (d.Status === "failed" || d.Status === "cancelled") {
    return { kind: "failed", reason: d.StatusDescription || `deployment ${d.Status}` };
  }
  const groups = Object.entries(d.TaskGroups ?? {});
  const unhealthy = groups.filter(([, g]) => g.UnhealthyAllocs > 0);
  if (unhealthy.length > 0) {
    return {
      kind: "unhealthy",
      reason: unhealthy
        .map(([name, g]) => `${g.UnhealthyAllocs} unhealthy allocation(s) in group ${name}`)
        .join("; "),
    };
  }
  const waitingForPromotion = groups.filter(([, g]) => g.DesiredCanaries > 0 && !g.Promoted);
  if (
    waitingForPromotion.length > 0 &&
    waitingForPromotion.every(
      ([, g]) =>
        (g.PlacedCanaries?.length ?? 0) >= g.DesiredCanaries &&
        g.HealthyAllocs >= g.DesiredCanaries,
    )
  ) {
    return { kind: "canaries-healthy" };
  }
  return { kind: "progressing" };
}

/** One line per task group: what a person watching wants to see. */
export function describeProgress(d: Deployment): string {
  return Object.entries(d.TaskGroups ?? {})
    .map(([name, g]) => {
      const canary =
        g.DesiredCanaries > 0 && !g.Promoted
          ? ` (canary ${g.PlacedCanaries?.length ?? 0}/${g.DesiredCanaries})`
          : "";
      return `${name}: placed ${g.PlacedAllocs}/${g.DesiredTotal}${canary}, healthy ${g.HealthyAllocs}, unhealthy ${g.UnhealthyAllocs}`;
    })
    .join("; ");
}

const nanos = 1e9;

/** How long to wait for a deployment: the job's progress_deadline plus a margin, in ms. */
export function deploymentDeadlineMs(job: NomadJob, marginSeconds = 60): number {
  const deadlines = (job.TaskGroups ?? []).map((g) => g.Update?.ProgressDeadline ?? 0);
  const longest = Math.max(job.Update?.ProgressDeadline ?? 0, ...deadlines);
  const seconds = longest > 0 ? longest / nanos : 600;
  return (seconds + marginSeconds) * 1000;
}

/**
 * How long a canary may answer its health check with an error before elm-infra fails it: two of
 * the jobs' check intervals (10 s), or a quarter of the shortest healthy_deadline when that is
 * shorter, so the failure is always found well before Nomad's own verdict.
 */
export function canaryFailAfterMs(
  job: Pick<NomadJob, "Update" | "TaskGroups"> | undefined,
  checkWindowMs = 10_000,
): number {
  const deadlines = [job?.Update, ...(job?.TaskGroups ?? []).map((g) => g.Update)]
    .map((u) => u?.HealthyDeadline ?? 0)
    .filter((d) => d > 0);
  if (deadlines.length === 0) return checkWindowMs;
  return Math.min(checkWindowMs, (Math.min(...deadlines) / nanos / 4) * 1000);
}

export interface JobPlanSummary {
  /** Nothing would change: the same job is already running. */
  unchanged: boolean;
  lines: string[];
  canaries: number;
  destructive: number;
  inPlace: number;
  place: number;
  stop: number;
}

/** Pure: what `nomad job plan` would say, reduced to what a deployer decides on. */
export function summarizeJobPlan(plan: JobPlan): JobPlanSummary {
  const updates = plan.Annotations?.DesiredTGUpdates ?? {};
  let canaries = 0,
    destructive = 0,
    inPlace = 0,
    place = 0,
    stop = 0;
  const lines: string[] = [];
  for (const [group, u] of Object.entries(updates)) {
    canaries += u.Canary ?? 0;
    destructive += u.DestructiveUpdate ?? 0;
    inPlace += u.InPlaceUpdate ?? 0;
    place += u.Place ?? 0;
    stop += u.Stop ?? 0;
    const parts = Object.entries(u)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`);
    lines.push(`group ${group}: ${parts.join(", ") || "no change"}`);
  }
  const diff = plan.Diff;
  if (diff?.Type === "Added") lines.push("new job: everything is created");
  else for (const field of collectFieldChanges(diff)) lines.push(field);
  const unchanged = (diff?.Type ?? "None") === "None";
  return { unchanged, lines, canaries, destructive, inPlace, place, stop };
}

function collectFieldChanges(diff: JobPlan["Diff"]): string[] {
  const out: string[] = [];
  for (const tg of diff?.TaskGroups ?? []) {
    for (const f of tg.Fields ?? [])
      if (f.Type !== "None") out.push(`${tg.Name}.${f.Name}: ${f.Old || "∅"} → ${f.New || "∅"}`);
    for (const task of tg.Tasks ?? []) {
      for (const obj of task.Objects ?? []) {
        for (const f of obj.Fields ?? []) {
          if (f.Type !== "None")
            out.push(
              `${tg.Name}.${task.Name}.${obj.Name}.${f.Name}: ${f.Old || "∅"} → ${f.New || "∅"}`,
            );
        }
      }
      for (const f of task.Fields ?? [])
        if (f.Type !== "None")
          out.push(`${tg.Name}.${task.Name}.${f.Name}: ${f.Old || "∅"} → ${f.New || "∅"}`);
      if (task.Annotations?.length)
        out.push(`${tg.Name}.${task.Name}: ${task.Annotations.join(", ")}`);
    }
  }
  return out;
}

/**
 * Pure: a Docker driver's failed pull ("Failed to pull `<image>`: …") said with the image, the
 * registry, the reason and what to do; undefined for any other message.
 */
export function explainFailedPull(message: string): string | undefined {
  const m = /Failed to pull `([^`]+)`:?\s*(.*)$/s.exec(message);
  if (!m) return undefined;
  const image = m[1]!;
  const detail = m[2]!.trim();
  const slash = image.indexOf("/");
  const first = slash > 0 ? image.slice(0, slash) : "";
  const registry = /[.:]/.test(first) || first === "localhost" ? first : "Docker Hub";
  const [reason, todo] = /unauthorized|authentication required|no basic auth|denied/i.test(detail)
    ? [
        "unauthorized",
        "the workers' registry credentials are refused: run bring-up again to rewrite them (/etc/docker/nomad-auth.json)",
      ]
    : /manifest unknown|not found|does not exist/i.test(detail)
      ? [
          "not found",
          "push that version first: elm-infra image <service>@<version> --context <build output>",
        ]
      : /timeout|refused|no route|no such host|i\/o timeout|EOF|x509|certificate/i.test(detail)
        ? ["unreachable", `check that the workers reach ${registry} (and trust its CA)`]
        : ["refused", "the registry's words follow"];
  return `could not pull ${image} from ${registry}: ${reason} (${detail.slice(0, 200)}); ${todo}`;
}

/**
 * Pure: an allocation held back by a pull that failed: a task not running whose latest start or
 * failed pull is the failed pull, said as explainFailedPull says it; undefined otherwise.
 */
export function pullFailure(alloc: Pick<AllocationStub, "TaskStates">): string | undefined {
  for (const [task, state] of Object.entries(alloc.TaskStates ?? {})) {
    if (state.State === "running") continue;
    const events = state.Events ?? [];
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (e.Type === "Started") break;
      const why = explainFailedPull(e.DisplayMessage ?? "");
      if (why) return `${task}: ${why}`;
    }
  }
  return undefined;
}

/** Pure: why an allocation failed, from its task events (like Levant's failure inspector). */
export function explainAllocation(alloc: AllocationStub): string[] {
  const lines: string[] = [];
  for (const [task, state] of Object.entries(alloc.TaskStates ?? {})) {
    const events = (state.Events ?? []).filter(
      (e) =>
        [
          "Driver Failure",
          "Terminated",
          "Failed Validation",
          "Setup Failure",
          "Not Restarting",
          "Killing",
          "Restart Signaled",
          "Alloc Unhealthy",
          "Task hook failed",
        ].includes(e.Type) || /fail|error|unhealthy/i.test(e.DisplayMessage ?? ""),
    );
    for (const e of events.slice(-5)) {
      const pull = explainFailedPull(e.DisplayMessage ?? "");
      if (pull) {
        lines.push(`${alloc.ID.slice(0, 8)} ${task}: ${pull}`);
        continue;
      }
      const exit =
        e.Details?.exit_code ?? (e.ExitCode !== undefined ? String(e.ExitCode) : undefined);
      lines.push(
        `${alloc.ID.slice(0, 8)} ${task}: ${e.Type}${e.DisplayMessage ? `: ${e.DisplayMessage}` : ""}${exit !== undefined && !/exit code/i.test(e.DisplayMessage ?? "") ? ` (exit code ${exit})` : ""}`,
      );
    }
  }
  if (alloc.DeploymentStatus?.Healthy === false && lines.length === 0) {
    lines.push(`${alloc.ID.slice(0, 8)}: marked unhealthy (its health check did not pass in time)`);
  }
  return lines;
}
