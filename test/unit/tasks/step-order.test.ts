import { describe, expect, it } from "vitest";
import type { LoadedConfig } from "../../../src/config/load.js";
import {
  applyInfrastructure,
  convergeHostSteps,
  ensureSshKey,
  forgetDeadHosts,
  generateSecrets,
  lookForGoneHosts,
  planInfrastructure,
  recordInventory,
} from "../../../src/tasks/bring-up.js";
import {
  deploySteps,
  renderJobStep,
  submitJobStep,
  validateJobStep,
} from "../../../src/tasks/deploy.js";
import {
  failDeploymentStep,
  restartSteps,
  revertRolloutSteps,
  rolloutSteps,
  takeDeployLockStep,
  type RolloutState,
} from "../../../src/tasks/rollout.js";
import { checkStepOrder } from "../../../src/tasks/runner.js";
import {
  growSteps,
  judgeClusterNow,
  newHostChangeRun,
  removeHostSteps,
} from "../../../src/tasks/scale.js";

/** The runner's check on the real step lists, from the state each command starts them with. */
const config = {} as LoadedConfig;
const something = {} as never;

describe("the commands' step lists are in an order where every need is given", () => {
  it("bring-up: the plan phase, then the apply and converge phase", () => {
    const run = { config, trustOnFirstUse: new Set<string>() };
    expect(() =>
      checkStepOrder([ensureSshKey(), planInfrastructure(), lookForGoneHosts()], run),
    ).not.toThrow();
    const planned = {
      ...run,
      tf: something,
      planResult: something,
      plan: something,
      hostPlan: something,
    };
    expect(() =>
      checkStepOrder(
        [generateSecrets(), forgetDeadHosts(), applyInfrastructure(), ...convergeHostSteps()],
        planned,
      ),
    ).not.toThrow();
  });

  it("scale and replace: the health check, the growth, each removal", () => {
    const run = newHostChangeRun(config);
    expect(() => checkStepOrder([judgeClusterNow("scale")], run)).not.toThrow();
    const judged = { ...run, inventory: something };
    expect(() => checkStepOrder(growSteps(), judged)).not.toThrow();
    expect(() => checkStepOrder(removeHostSteps("w2"), judged)).not.toThrow();
  });

  it("deploy: the plan phase from the start, the submit phase and the backups after the plan", () => {
    const ref = { service: "s", version: "v1" };
    const start = { config, ref, apis: something };
    const steps = deploySteps(ref);
    expect(() => checkStepOrder(steps.plan, start)).not.toThrow();
    const planned = { ...start, job: something, planIndex: 7, summary: something };
    expect(() => checkStepOrder(steps.submit, planned)).not.toThrow();
    expect(() => checkStepOrder(steps.afterRollout, planned)).not.toThrow();
    expect(() => checkStepOrder([submitJobStep()], start)).toThrow(
      'step "Submit the job (only if unchanged since the plan)" needs job, planIndex, which no step before it gives (the steps are in the wrong order)',
    );
    expect(() => checkStepOrder([validateJobStep(), renderJobStep(ref)], start)).toThrow(
      /step "Validate the job with Nomad" needs hcl/,
    );
  });

  it("deploy, rollback, the revert and the package data's restart: after the submit", () => {
    const submitted: RolloutState = {
      config,
      ref: { service: "s", version: "v1" },
      apis: something,
      jobVersion: 3,
    };
    for (const steps of [
      rolloutSteps(),
      revertRolloutSteps("v0"),
      restartSteps(),
      [failDeploymentStep()],
    ])
      expect(() => checkStepOrder(steps, submitted)).not.toThrow();
    expect(() => checkStepOrder([takeDeployLockStep("deploy s@v1")], submitted)).not.toThrow();
  });

  it("a misordered list fails naming the step and the field", () => {
    const run = { config, trustOnFirstUse: new Set<string>() };
    expect(() => checkStepOrder([recordInventory(), planInfrastructure()], run)).toThrow(
      'step "Record the hosts (inventory)" needs tf, which no step before it gives (the steps are in the wrong order)',
    );
    const unsubmitted: RolloutState = {
      config,
      ref: { service: "s", version: "v1" },
      apis: something,
    };
    expect(() => checkStepOrder(rolloutSteps(), unsubmitted)).toThrow(
      /needs jobVersion, which no step before it gives/,
    );
  });
});
