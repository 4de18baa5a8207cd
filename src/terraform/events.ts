/**
 * Terraform's and OpenTofu's machine-readable UI (`-json`, one JSON object a line) turned into
 * typed progress events. Pure: a line in, an event (or nothing) out.
 */

/** Terraform's action names: create, read, update, replace, delete, noop, move, import, forget... */
export type ResourceAction = string;

export interface Diagnostic {
  severity: "error" | "warning";
  summary: string;
  detail: string;
  /** Resource address the diagnostic is about, when Terraform names one. */
  address?: string;
  /** `file:line` in the module, when Terraform names one. */
  location?: string;
}

export type TerraformEvent =
  | { kind: "version"; program: "terraform" | "tofu"; version: string }
  | { kind: "planned-change"; resource: string; action: ResourceAction }
  | { kind: "apply-start"; resource: string; action: ResourceAction }
  | { kind: "apply-progress"; resource: string; action: ResourceAction; elapsedSeconds: number }
  | {
      kind: "apply-complete";
      resource: string;
      action: ResourceAction;
      elapsedSeconds: number;
      id?: string;
    }
  | { kind: "apply-errored"; resource: string; action: ResourceAction; elapsedSeconds: number }
  | { kind: "refresh"; resource: string }
  | {
      kind: "change-summary";
      operation: "plan" | "apply" | "destroy" | string;
      add: number;
      change: number;
      remove: number;
    }
  | { kind: "diagnostic"; diagnostic: Diagnostic }
  | { kind: "log"; level: "info" | "warn" | "error"; message: string };

interface UiResource {
  addr?: string;
}
interface UiHook {
  resource?: UiResource;
  action?: string;
  id_value?: string;
  elapsed_seconds?: number;
}
interface UiLine {
  "@level"?: string;
  "@message"?: string;
  type?: string;
  terraform?: string;
  tofu?: string;
  hook?: UiHook;
  change?: { resource?: UiResource; action?: string };
  changes?: { add?: number; change?: number; remove?: number; operation?: string };
  diagnostic?: {
    severity?: string;
    summary?: string;
    detail?: string;
    address?: string;
    range?: { filename?: string; start?: { line?: number } };
  };
}

/** One line of `-json` output; undefined for lines that carry nothing worth reporting. */
export function parseUiLine(line: string): TerraformEvent | undefined {
  const text = line.trim();
  if (!text.startsWith("{"))
    return text ? { kind: "log", level: "info", message: text } : undefined;
  let ui: UiLine;
  try {
    ui = JSON.parse(text) as UiLine;
  } catch {
    return { kind: "log", level: "info", message: text };
  }
  const resource = ui.hook?.resource?.addr ?? "";
  const action = ui.hook?.action ?? "";
  const elapsedSeconds = ui.hook?.elapsed_seconds ?? 0;
  switch (ui.type) {
    case "version":
      return ui.tofu !== undefined
        ? { kind: "version", program: "tofu", version: ui.tofu }
        : { kind: "version", program: "terraform", version: ui.terraform ?? "" };
    case "planned_change":
      return {
        kind: "planned-change",
        resource: ui.change?.resource?.addr ?? "",
        action: ui.change?.action ?? "",
      };
    case "apply_start":
      return { kind: "apply-start", resource, action };
    case "apply_progress":
      return { kind: "apply-progress", resource, action, elapsedSeconds };
    case "apply_complete":
      return {
        kind: "apply-complete",
        resource,
        action,
        elapsedSeconds,
        ...(ui.hook?.id_value !== undefined ? { id: ui.hook.id_value } : {}),
      };
    case "apply_errored":
      return { kind: "apply-errored", resource, action, elapsedSeconds };
    case "refresh_complete":
      return { kind: "refresh", resource };
    case "change_summary":
      return {
        kind: "change-summary",
        operation: ui.changes?.operation ?? "",
        add: ui.changes?.add ?? 0,
        change: ui.changes?.change ?? 0,
        remove: ui.changes?.remove ?? 0,
      };
    case "diagnostic":
      return { kind: "diagnostic", diagnostic: toDiagnostic(ui) };
    case "log": {
      const level = ui["@level"] === "error" ? "error" : ui["@level"] === "warn" ? "warn" : "info";
      return { kind: "log", level, message: ui["@message"] ?? "" };
    }
    default:
      // refresh_start, outputs (values may be sensitive), resource_drift, provision_*: not reported.
      return undefined;
  }
}

function toDiagnostic(ui: UiLine): Diagnostic {
  const d = ui.diagnostic ?? {};
  const file = d.range?.filename;
  const line = d.range?.start?.line;
  return {
    severity: d.severity === "warning" ? "warning" : "error",
    summary: d.summary ?? ui["@message"] ?? "unknown problem",
    detail: d.detail ?? "",
    ...(d.address ? { address: d.address } : {}),
    ...(file ? { location: line !== undefined ? `${file}:${line}` : file } : {}),
  };
}

/** One readable sentence from the error diagnostics of a failed run, for OperationError. */
export function summarizeDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === "error");
  return errors
    .map((d) => {
      const where = d.address ?? d.location;
      const detail = d.detail ? `: ${d.detail.split("\n")[0]}` : "";
      return `${d.summary}${where ? ` (${where})` : ""}${detail}`;
    })
    .join("; ");
}

const doing: Record<string, string> = {
  create: "creating",
  update: "updating",
  delete: "destroying",
  replace: "replacing",
  read: "reading",
};
const done: Record<string, string> = {
  create: "created",
  update: "updated",
  delete: "destroyed",
  replace: "replaced",
  read: "read",
};

/** One progress line for a person, or undefined for events not worth a line of their own. */
export function describeEvent(event: TerraformEvent): string | undefined {
  switch (event.kind) {
    case "apply-start":
      return `${event.resource}: ${doing[event.action] ?? event.action}`;
    case "apply-complete":
      return `${event.resource}: ${done[event.action] ?? event.action} after ${event.elapsedSeconds}s`;
    case "apply-errored":
      return `${event.resource}: ${event.action} failed after ${event.elapsedSeconds}s`;
    case "change-summary":
      return `${event.operation}: ${event.add} to add, ${event.change} to change, ${event.remove} to destroy`;
    case "diagnostic":
      return `${event.diagnostic.severity}: ${summarizeDiagnostics([{ ...event.diagnostic, severity: "error" }])}`;
    default:
      return undefined;
  }
}
