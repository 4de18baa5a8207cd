/**
 * Pure: what a Nomad ACL token needs for a call it was refused (403), named as Nomad's policy
 * language names it, so the user can write the policy.
 */
export function nomadPermissionFor(method: string, path: string): string {
  const read = method === "GET";
  if (path.startsWith("/v1/operator")) return read ? "operator:read" : "operator:write";
  if (path.startsWith("/v1/node")) return read ? "node:read" : "node:write";
  if (path.startsWith("/v1/acl")) return "a management token";
  if (path.startsWith("/v1/agent")) return read ? "agent:read" : "agent:write";
  if (path.startsWith("/v1/var"))
    return read ? "namespace variables read" : "namespace variables write";
  if (path === "/v1/jobs/parse") return "namespace capability parse-job";
  if (path.startsWith("/v1/client/fs")) return "namespace capability read-logs";
  if (/^\/v1\/client\/allocation\/[^/]+\/exec$/.test(path))
    return "namespace capability alloc-exec";
  if (/^\/v1\/client\/allocation\/[^/]+\/(signal|restart)$/.test(path))
    return "namespace capability alloc-lifecycle";
  if (/^\/v1\/deployment\/(promote|fail|pause|allocation-health)\//.test(path))
    return "namespace capability submit-job";
  if (path.endsWith("/plan")) return "namespace capability submit-job";
  return read ? "namespace capability read-job" : "namespace capability submit-job";
}
