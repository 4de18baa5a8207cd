/** Test harness: what a test's run of the site playbook is given besides its hosts. */
import { randomBytes, randomUUID } from "node:crypto";
import type { SiteSecrets } from "../../src/ansible/index.js";

/** Fresh gossip keys and tokens, as bring-up generates them, for one test's cluster. */
export function randomSiteSecrets(): SiteSecrets {
  return {
    consulGossipKey: randomBytes(32).toString("base64"),
    consulManagementToken: randomUUID(),
    consulAgentToken: randomUUID(),
    consulNomadToken: randomUUID(),
    consulTraefikToken: randomUUID(),
    nomadGossipKey: randomBytes(32).toString("base64"),
    nomadManagementToken: randomUUID(),
  };
}
