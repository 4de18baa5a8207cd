/**
 * The outputs both iac modules give, checked and typed. Pure.
 *   hosts         = { <name> = { role, private_ip, ssh_host, ssh_port } }
 *   load_balancer = { host, http_port, https_port }
 *   acme          = { directory, hosts = { <name> = <address> }, container }   (local only: Pebble)
 *   package_data  = { host, device }   (the data volume's worker and its device id)
 *   dns           = { address }   (where every hostname's A record points)
 */
import { OperationError } from "../errors.js";

export interface HostOutput {
  role: "manager" | "worker";
  privateIp: string;
  sshHost: string;
  sshPort: number;
}

export interface ClusterOutputs {
  hosts: Record<string, HostOutput>;
  loadBalancer: { host: string; httpPort: number; httpsPort: number };
  /** The local target's own ACME CA (Pebble): where its directory is and how its name resolves. */
  acme?: LocalAcme;
  /** The package data volume: the worker it is attached to, the device id the holder mounts. */
  packageData?: { host: string; device: string };
  /** Where every hostname's A record points: the load balancer's address as DNS gives it. */
  dns?: { address: string };
}

export interface LocalAcme {
  directory: string;
  /** Names the issuer must resolve to reach the CA (not in any DNS the workers ask). */
  hosts: Record<string, string>;
  /** Pebble's container on this machine's Docker engine. */
  container: string;
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => v !== null && typeof v === "object" && !Array.isArray(v);

export function parseClusterOutputs(outputs: Record<string, unknown>): ClusterOutputs {
  const problems: string[] = [];
  const text = (o: Raw, key: string, where: string) => {
    if (typeof o[key] === "string" && o[key] !== "") return o[key];
    problems.push(`${where}.${key} is not a string`);
    return "";
  };
  const port = (o: Raw, key: string, where: string) => {
    const v = o[key];
    if (typeof v === "number" && Number.isInteger(v) && v > 0 && v < 65536) return v;
    problems.push(`${where}.${key} is not a port`);
    return 0;
  };
  const hosts: Record<string, HostOutput> = {};
  if (!isObject(outputs.hosts)) problems.push("hosts is missing");
  for (const [name, host] of Object.entries(isObject(outputs.hosts) ? outputs.hosts : {})) {
    const where = `hosts.${name}`;
    if (!isObject(host)) {
      problems.push(`${where} is not an object`);
      continue;
    }
    const role = host.role === "manager" || host.role === "worker" ? host.role : undefined;
    if (!role) problems.push(`${where}.role is neither manager nor worker`);
    hosts[name] = {
      role: role ?? "worker",
      privateIp: text(host, "private_ip", where),
      sshHost: text(host, "ssh_host", where),
      sshPort: port(host, "ssh_port", where),
    };
  }
  const lb = isObject(outputs.load_balancer) ? outputs.load_balancer : undefined;
  if (!lb) problems.push("load_balancer is missing");
  const loadBalancer = {
    host: lb ? text(lb, "host", "load_balancer") : "",
    httpPort: lb ? port(lb, "http_port", "load_balancer") : 0,
    httpsPort: lb ? port(lb, "https_port", "load_balancer") : 0,
  };
  const acmeRaw = isObject(outputs.acme) ? outputs.acme : undefined;
  const acme = acmeRaw
    ? {
        directory: text(acmeRaw, "directory", "acme"),
        container: text(acmeRaw, "container", "acme"),
        hosts: Object.fromEntries(
          Object.entries(isObject(acmeRaw.hosts) ? acmeRaw.hosts : {}).map(([k, v]) => [
            k,
            String(v),
          ]),
        ),
      }
    : undefined;
  // null before any worker exists (host null): no volume is attached anywhere yet.
  const dataRaw = isObject(outputs.package_data) ? outputs.package_data : undefined;
  const packageData =
    dataRaw && dataRaw.host !== null
      ? {
          host: text(dataRaw, "host", "package_data"),
          device: text(dataRaw, "device", "package_data"),
        }
      : undefined;
  const dnsRaw = isObject(outputs.dns) ? outputs.dns : undefined;
  const dns = dnsRaw ? { address: text(dnsRaw, "address", "dns") } : undefined;
  if (problems.length > 0) {
    throw new OperationError(
      `the module's outputs are not what elm-infra expects: ${problems.join("; ")}`,
      "the iac module and elm-infra are out of step: run bring-up again with this version's iac/",
    );
  }
  return {
    hosts,
    loadBalancer,
    ...(acme ? { acme } : {}),
    ...(packageData ? { packageData } : {}),
    ...(dns ? { dns } : {}),
  };
}
