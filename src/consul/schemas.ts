/**
 * The shapes of Consul's answers elm-infra reads, checked at the client (src/http.ts): the fields
 * the code relies on, with their types; every other field is kept as Consul sent it. client.ts
 * derives its types from these. Field names are Consul's.
 */
import { z } from "zod";
import { absentIfNull } from "../http.js";

export const sessionCreated = z.looseObject({ ID: z.string() });

/** A KV write with `acquire`: true when this session now holds the key. */
export const acquired = z.boolean();

export const kvPairs = z.array(
  z.looseObject({
    Key: z.string(),
    Value: z.string().nullable(),
    Session: z.string().optional(),
    ModifyIndex: z.number(),
  }),
);

const checkStatus = z.enum(["passing", "warning", "critical"]);

/** One health check of a service instance (GET /v1/health/checks/:service). */
export const healthCheck = z.looseObject({
  Node: z.string(),
  Name: z.string(),
  Status: checkStatus,
  Output: z.string(),
  ServiceID: z.string(),
});

export const serviceHealth = z.looseObject({
  Node: z.looseObject({ Node: z.string(), Address: z.string() }),
  Service: z.looseObject({
    ID: z.string(),
    Service: z.string(),
    Address: z.string(),
    Port: z.number(),
    Tags: z.array(z.string()).nullable(),
    Meta: z.record(z.string(), z.string()).nullable(),
  }),
  Checks: z.array(
    z.looseObject({
      Name: z.string(),
      Status: checkStatus,
      Output: z.string(),
      ServiceID: z.string(),
    }),
  ),
});

/** The raft leader's address (`host:port`); empty while there is none. */
export const leader = z.string();
export const raftPeers = z.array(z.string());

/** Consul's raft configuration has Nomad's shape (both are HashiCorp's raft library's). */
export { raftConfiguration } from "../nomad/schemas.js";

/** Consul's autopilot view of its servers. */
export const autopilotHealth = z.looseObject({
  Healthy: z.boolean(),
  FailureTolerance: z.number(),
  Servers: absentIfNull(
    z.array(
      z.looseObject({ ID: z.string(), Name: z.string(), Healthy: z.boolean(), Voter: z.boolean() }),
    ),
  ),
});

/** The LAN gossip pool as this agent sees it (Status 1 is alive). */
export const members = z.array(
  z.looseObject({
    Name: z.string(),
    Addr: z.string(),
    Status: z.number(),
    Tags: z.record(z.string(), z.string()),
  }),
);

/** The gossip encryption keys installed in each pool (empty when encryption is off). */
export const keyring = z.array(
  z.looseObject({ WAN: z.boolean(), Keys: z.record(z.string(), z.number()) }),
);

/** An ACL token as Consul reads it back (GET /v1/acl/token/self, PUT /v1/acl/token). */
export const aclToken = z.looseObject({
  AccessorID: z.string(),
  Description: z.string().optional(),
  Policies: absentIfNull(z.array(z.looseObject({ ID: z.string().optional(), Name: z.string() }))),
  NodeIdentities: absentIfNull(
    z.array(z.looseObject({ NodeName: z.string(), Datacenter: z.string() })),
  ),
  ServiceIdentities: absentIfNull(
    z.array(
      z.looseObject({
        ServiceName: z.string(),
        Datacenters: absentIfNull(z.array(z.string())),
      }),
    ),
  ),
});
/** GET /v1/acl/tokens: every token's accessor and description (no secret is read). */
export const aclTokenList = z.array(
  z.looseObject({ AccessorID: z.string(), Description: z.string().optional() }),
);

export const serviceHealthList = z.array(serviceHealth);
export const healthChecks = z.array(healthCheck);
