import { describe, expect, it } from "vitest";
import type { Target } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import {
  applyArgs,
  destroyArgs,
  initArgs,
  outputArgs,
  planArgs,
  showPlanArgs,
} from "../../src/terraform/args.js";
import { chooseBinary, searchDirs } from "../../src/terraform/binary.js";
import {
  describeEvent,
  parseUiLine,
  summarizeDiagnostics,
  type TerraformEvent,
} from "../../src/terraform/events.js";
import { errorLines, workDirFor } from "../../src/terraform/runner.js";
import { computeVarSet, moduleDirFor, secretVarEnv } from "../../src/terraform/vars.js";

const key =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkz0rWmK0a4ZlQz8mV1hUY5Gm1tHq9bkJ0o3dW5Xyzz ops@elm";

function target(over: Partial<Target> = {}): Target {
  return {
    provider: "digitalocean",
    region: "fra1",
    sizes: { manager: "s-1vcpu-2gb", worker: "s-2vcpu-4gb" },
    image: "debian-12-x64",
    managers: 3,
    workers: 2,
    domains: {},
    ssh: {
      user: "root",
      port: 22,
      privateKey: "secrets/id_ed25519",
      knownHosts: ".elm-infra/known_hosts",
    },
    registry: "registry.digitalocean.com/elm",
    ports: { http: 8080, https: 8443 },
    ...over,
  };
}

describe("argv builders", () => {
  it.each([
    ["init", initArgs(), ["init", "-input=false", "-no-color"]],
    [
      "init -upgrade",
      initArgs({ upgrade: true }),
      ["init", "-input=false", "-no-color", "-upgrade"],
    ],
    [
      "plan",
      planArgs(),
      [
        "plan",
        "-input=false",
        "-json",
        "-detailed-exitcode",
        "-out=elm-infra.tfplan",
        "-var-file=elm-infra.tfvars.json",
      ],
    ],
    [
      "plan -destroy",
      planArgs({ destroy: true, planFile: "d.tfplan", varFile: "v.json" }),
      [
        "plan",
        "-input=false",
        "-json",
        "-detailed-exitcode",
        "-out=d.tfplan",
        "-var-file=v.json",
        "-destroy",
      ],
    ],
    ["apply", applyArgs(), ["apply", "-input=false", "-json", "elm-infra.tfplan"]],
    ["apply file", applyArgs("x.tfplan"), ["apply", "-input=false", "-json", "x.tfplan"]],
    [
      "destroy",
      destroyArgs(),
      ["destroy", "-input=false", "-json", "-auto-approve", "-var-file=elm-infra.tfvars.json"],
    ],
    ["output", outputArgs(), ["output", "-json"]],
    ["show", showPlanArgs(), ["show", "-json", "elm-infra.tfplan"]],
  ])("%s", (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it("never puts a variable value in argv", () => {
    for (const args of [planArgs(), destroyArgs(), applyArgs()]) {
      expect(args.some((a) => a.startsWith("-var=") || a === "-var")).toBe(false);
    }
  });
});

describe("computeVarSet", () => {
  it("maps a digitalocean target to the module's variables", () => {
    expect(computeVarSet("production", target(), { sshPublicKey: `${key}\n` })).toEqual({
      name: "production",
      region: "fra1",
      image: "debian-12-x64",
      manager_count: 3,
      worker_count: 2,
      manager_size: "s-1vcpu-2gb",
      worker_size: "s-2vcpu-4gb",
      ssh_public_key: key,
      ssh_port: 22,
    });
  });

  it("passes the allowed SSH ranges and tags when given", () => {
    const vars = computeVarSet("production", target(), {
      sshPublicKey: key,
      sshAllowedCidrs: ["203.0.113.0/24"],
      tags: ["team:ops"],
    });
    expect(vars.ssh_allowed_cidrs).toEqual(["203.0.113.0/24"]);
    expect(vars.tags).toEqual(["team:ops"]);
  });

  it("maps a local target to host containers and loopback ports", () => {
    const local = target({
      provider: "local",
      region: "local",
      image: "elm-infra/host:latest",
      managers: 1,
      workers: 2,
      ports: { http: 18080, https: 18443 },
    });
    expect(computeVarSet("local", local, { sshPublicKey: key, sshBasePort: 2300 })).toEqual({
      name: "local",
      image: "elm-infra/host:latest",
      manager_count: 1,
      worker_count: 2,
      ssh_public_key: key,
      http_port: 18080,
      https_port: 18443,
      ssh_base_port: 2300,
    });
  });

  it("reports every problem at once", () => {
    const bad = () => computeVarSet("prod.eu", target(), { sshPublicKey: "not a key" });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (e) {
      const problems = (e as ConfigError).problems;
      expect(problems.map((p) => p.path)).toEqual(["targets.prod.eu", ""]);
      expect(problems[1]?.file).toBe("secrets/id_ed25519.pub");
    }
  });

  it("knows each provider's module", () => {
    expect(moduleDirFor("digitalocean")).toBe("iac/digitalocean");
    expect(moduleDirFor("local")).toBe("iac/local");
  });
});

describe("secretVarEnv", () => {
  it("passes the DigitalOcean token as TF_VAR_do_token", () => {
    expect(secretVarEnv("production", target(), { digitaloceanToken: "dop_v1_abc" })).toEqual({
      TF_VAR_do_token: "dop_v1_abc",
    });
  });
  it("refuses a digitalocean target without a token, naming the secrets file", () => {
    expect(() => secretVarEnv("production", target(), {})).toThrow(
      /secrets\/production\.yaml: digitaloceanToken: is required/,
    );
  });
  it("needs nothing for a local target", () => {
    expect(secretVarEnv("local", target({ provider: "local" }), {})).toEqual({});
  });
});

describe("chooseBinary", () => {
  const both = { tofu: "/c/bin/tofu", terraform: "/usr/local/bin/terraform" };
  it.each([
    ["auto", both, { program: "tofu", path: "/c/bin/tofu" }],
    [
      "auto",
      { terraform: "/usr/local/bin/terraform" },
      { program: "terraform", path: "/usr/local/bin/terraform" },
    ],
    ["terraform", both, { program: "terraform", path: "/usr/local/bin/terraform" }],
    ["tofu", { terraform: "/usr/local/bin/terraform" }, undefined],
    ["auto", {}, undefined],
  ] as const)("%s with %j", (choice, found, expected) => {
    expect(chooseBinary(choice, found)).toEqual(expected);
  });

  it("searches the tool cache before PATH", () => {
    expect(searchDirs("/home/u/.cache/elm-infra", "/usr/bin::/bin")).toEqual([
      "/home/u/.cache/elm-infra/bin",
      "/usr/bin",
      "/bin",
    ]);
  });
});

// Lines captured from Terraform 1.11.4 (`plan -json`, `apply -json`, `destroy -json`).
const captured = {
  version: `{"@level":"info","@message":"Terraform 1.11.4","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:14.693171Z","terraform":"1.11.4","type":"version","ui":"1.2"}`,
  planned: `{"@level":"info","@message":"terraform_data.b: Plan to create","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:14.790581Z","change":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create"},"type":"planned_change"}`,
  summary: `{"@level":"info","@message":"Plan: 2 to add, 0 to change, 0 to destroy.","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:14.790801Z","changes":{"add":2,"change":0,"import":0,"remove":0,"operation":"plan"},"type":"change_summary"}`,
  outputs: `{"@level":"info","@message":"Outputs: 1","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:15.083699Z","outputs":{"a":{"sensitive":false,"type":"string","value":"hello"}},"type":"outputs"}`,
  applyStart: `{"@level":"info","@message":"terraform_data.b: Creating...","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:15.057745Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create"},"type":"apply_start"}`,
  applyComplete: `{"@level":"info","@message":"terraform_data.b: Creation complete after 0s [id=114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b]","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:15.058738Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create","id_key":"id","id_value":"114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b","elapsed_seconds":0},"type":"apply_complete"}`,
  destroyComplete: `{"@level":"info","@message":"terraform_data.a: Destruction complete after 0s","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:18.797334Z","hook":{"resource":{"addr":"terraform_data.a","module":"","resource":"terraform_data.a","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"a","resource_key":null},"action":"delete","elapsed_seconds":0},"type":"apply_complete"}`,
  refreshStart: `{"@level":"info","@message":"terraform_data.b: Refreshing state... [id=114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b]","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:18.782215Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"id_key":"id","id_value":"114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b"},"type":"refresh_start"}`,
  postcondition: `{"@level":"error","@message":"Error: Resource postcondition failed","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:19.364594Z","diagnostic":{"severity":"error","summary":"Resource postcondition failed","detail":"n must be above 5.","range":{"filename":"main.tf","start":{"line":6,"column":23,"byte":137},"end":{"line":6,"column":38,"byte":152}},"snippet":{"context":"resource \\"terraform_data\\" \\"bad\\"","code":"      condition     = self.output \\u003e 5","start_line":6,"highlight_start_offset":22,"highlight_end_offset":37,"values":[{"traversal":"self.output","statement":"is 1"}]}},"type":"diagnostic"}`,
  badVariable: `{"@level":"error","@message":"Error: Invalid value for input variable","@module":"terraform.ui","@timestamp":"2026-11-22T00:15:19.715702Z","diagnostic":{"severity":"error","summary":"Invalid value for input variable","detail":"Unsuitable value for var.n set using the TF_VAR_n environment variable: a number is required.","range":{"filename":"main.tf","start":{"line":1,"column":1,"byte":0},"end":{"line":1,"column":13,"byte":12}},"snippet":{"context":null,"code":"variable \\"n\\" { type = number }","start_line":1,"highlight_start_offset":0,"highlight_end_offset":12,"values":[]}},"type":"diagnostic"}`,
};

describe("parseUiLine", () => {
  it.each([
    ["version", captured.version, { kind: "version", program: "terraform", version: "1.11.4" }],
    [
      "planned change",
      captured.planned,
      { kind: "planned-change", resource: "terraform_data.b", action: "create" },
    ],
    [
      "change summary",
      captured.summary,
      { kind: "change-summary", operation: "plan", add: 2, change: 0, remove: 0 },
    ],
    [
      "apply start",
      captured.applyStart,
      { kind: "apply-start", resource: "terraform_data.b", action: "create" },
    ],
    [
      "apply complete",
      captured.applyComplete,
      {
        kind: "apply-complete",
        resource: "terraform_data.b",
        action: "create",
        elapsedSeconds: 0,
        id: "114b8cb0-b8ba-4f22-4a34-e8ce46ff7c9b",
      },
    ],
    [
      "OpenTofu's apply complete",
      `{"@level":"info","@message":"terraform_data.b: Creation complete after 0s [id=5a38f654-acab-93f9-a724-934b91d58db7]","@module":"tofu.ui","@timestamp":"2026-11-22T00:47:23.570001Z","hook":{"resource":{"addr":"terraform_data.b","module":"","resource":"terraform_data.b","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"b","resource_key":null},"action":"create","id_key":"id","id_value":"5a38f654-acab-93f9-a724-934b91d58db7","elapsed_seconds":0},"type":"apply_complete"}`,
      {
        kind: "apply-complete",
        resource: "terraform_data.b",
        action: "create",
        elapsedSeconds: 0,
        id: "5a38f654-acab-93f9-a724-934b91d58db7",
      },
    ],
    [
      "destroy complete",
      captured.destroyComplete,
      { kind: "apply-complete", resource: "terraform_data.a", action: "delete", elapsedSeconds: 0 },
    ],
    [
      "diagnostic",
      captured.postcondition,
      {
        kind: "diagnostic",
        diagnostic: {
          severity: "error",
          summary: "Resource postcondition failed",
          detail: "n must be above 5.",
          location: "main.tf:6",
        },
      },
    ],
    [
      "OpenTofu's version line (captured from tofu 1.10.6)",
      `{"@level":"info","@message":"OpenTofu 1.10.6-dev","@module":"tofu.ui","@timestamp":"2026-11-22T00:47:23.416709Z","tofu":"1.10.6-dev","type":"version","ui":"1.2"}`,
      { kind: "version", program: "tofu", version: "1.10.6-dev" },
    ],
    [
      "a plain text line",
      "Acquiring state lock. This may take a few moments...",
      {
        kind: "log",
        level: "info",
        message: "Acquiring state lock. This may take a few moments...",
      },
    ],
  ] as const)("%s", (_name, line, expected) => {
    expect(parseUiLine(line)).toEqual(expected);
  });

  it.each([
    ["outputs (values may be sensitive)", captured.outputs],
    ["refresh start", captured.refreshStart],
    ["an empty line", "   "],
  ])("ignores %s", (_name, line) => {
    expect(parseUiLine(line)).toBeUndefined();
  });
});

describe("summarizeDiagnostics", () => {
  it("joins the error summaries with where and why", () => {
    const diagnostics = [captured.postcondition, captured.badVariable].map(
      (l) => (parseUiLine(l) as Extract<TerraformEvent, { kind: "diagnostic" }>).diagnostic,
    );
    expect(
      summarizeDiagnostics([
        ...diagnostics,
        { severity: "warning", summary: "Deprecated", detail: "" },
      ]),
    ).toBe(
      "Resource postcondition failed (main.tf:6): n must be above 5.; Invalid value for input variable (main.tf:1): Unsuitable value for var.n set using the TF_VAR_n environment variable: a number is required.",
    );
  });
});

describe("errorLines", () => {
  it("reads the errors of init's human output", () => {
    const stderr = [
      "",
      "╷",
      "│ Error: Failed to query available provider packages",
      "│ ",
      "│ Could not retrieve the list of available versions for provider digitalocean/digitalocean",
      "╵",
    ].join("\n");
    expect(errorLines(stderr)).toBe("Failed to query available provider packages");
  });
});

it("keeps state under .elm-infra/<target>/terraform", () => {
  expect(workDirFor("/srv/elm", "production")).toBe("/srv/elm/.elm-infra/production/terraform");
});

describe("describeEvent", () => {
  it.each([
    [captured.applyStart, "terraform_data.b: creating"],
    [captured.applyComplete, "terraform_data.b: created after 0s"],
    [captured.destroyComplete, "terraform_data.a: destroyed after 0s"],
    [captured.summary, "plan: 2 to add, 0 to change, 0 to destroy"],
    [
      captured.postcondition,
      "error: Resource postcondition failed (main.tf:6): n must be above 5.",
    ],
    [captured.planned, undefined],
  ])("%#", (line, expected) => {
    expect(describeEvent(parseUiLine(line)!)).toBe(expected);
  });
});
