/**
 * Pure: what a Consul ACL token needs for a call it was refused (403), as a rule of Consul's
 * policy language.
 */
export function consulPermissionFor(method: string, path: string): string {
  const access = method === "GET" ? "read" : "write";
  const kv = /^\/v1\/kv\/(.*)$/.exec(path);
  if (kv) return `key_prefix "${kv[1]!.split("/")[0] ?? ""}/" ${access}`;
  if (path.startsWith("/v1/session")) return `session_prefix "" ${access}`;
  if (path.startsWith("/v1/health/service") || path.startsWith("/v1/catalog/service"))
    return 'service_prefix "" read and node_prefix "" read';
  if (path.startsWith("/v1/operator")) return `operator ${access}`;
  if (path.startsWith("/v1/acl")) return "acl write (a management token)";
  if (path.startsWith("/v1/agent/service/")) return 'service_prefix "" write';
  if (path.startsWith("/v1/agent")) return `agent_prefix "" ${access}`;
  return `the ${access} rule that covers ${path}`;
}
