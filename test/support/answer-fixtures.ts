/**
 * The real answers the schemas are checked against: each fixture in test/fixtures/answers/ is
 * what a real Nomad, Consul or Traefik said to one endpoint elm-infra calls (recorded by
 * test/integration/real-answers.test.ts with ELM_INFRA_RECORD_ANSWERS=1), with the schema its
 * client checks that answer against.
 */
import type { z } from "zod";
import * as consul from "../../src/consul/schemas.js";
import * as nomad from "../../src/nomad/schemas.js";
import * as traefik from "../../src/traefik/schemas.js";
import { z as zod } from "zod";

export const answerSchemas: Record<string, z.ZodType> = {
  "consul-session-create": consul.sessionCreated,
  "consul-kv-acquire": consul.acquired,
  "consul-kv-read": consul.kvPairs,
  "consul-health-service": consul.serviceHealthList,
  "consul-health-checks": consul.healthChecks,
  "consul-status-leader": consul.leader,
  "consul-status-peers": consul.raftPeers,
  "consul-raft-configuration": consul.raftConfiguration,
  "consul-autopilot-health": consul.autopilotHealth,
  "consul-agent-members": consul.members,
  "nomad-jobs-parse": nomad.job,
  "nomad-job-plan": nomad.jobPlan,
  "nomad-jobs-register": nomad.jobRegistration,
  "nomad-job-read": nomad.job,
  "nomad-job-versions": nomad.jobVersions,
  "nomad-job-allocations": zod.array(nomad.allocationStub),
  "nomad-job-deployment": nomad.deployment.nullable(),
  "nomad-deployment": nomad.deployment,
  "nomad-deployment-allocations": zod.array(nomad.allocationStub),
  "nomad-allocation": nomad.allocation,
  "nomad-evaluation": nomad.evaluation,
  "nomad-jobs-prefix": zod.array(nomad.jobListStub),
  "nomad-nodes": zod.array(nomad.node),
  "nomad-node": nomad.node,
  "nomad-node-allocations": zod.array(nomad.allocation),
  "nomad-raft-configuration": nomad.raftConfiguration,
  "nomad-autopilot-health": nomad.autopilotHealth,
  "nomad-agent-members": nomad.serverMembers,
  "nomad-status-leader": nomad.leader,
  "nomad-variable": nomad.variable,
  "traefik-routers": traefik.routers,
  "traefik-router": traefik.router,
  "traefik-service": traefik.service,
};
