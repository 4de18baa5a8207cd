import { join } from "node:path";
import { canaryEntrypoint } from "../traefik/canary.js";

/**
 * The configuration of Consul, Nomad and Traefik agents that run on this machine's loopback:
 * the `dev` target that `npm run local` starts (through src/tools/dev-agents.ts) and the
 * integration tests' agents (test/harness/agents.ts). One renderer for both, so they cannot
 * drift. Pure: ports and folders in, configuration out.
 */

export interface ConsulDevPorts {
  http: number;
  dns: number;
  grpc: number;
  serfLan: number;
  serfWan: number;
  server: number;
}

/** Consul in -dev mode (a single server), JSON. */
export function consulDevConfig(c: {
  nodeName: string;
  dataDir: string;
  ports: ConsulDevPorts;
  /** Enforce ACLs (default deny), with this secret as the initial management token. */
  aclManagementToken?: string;
}): Record<string, unknown> {
  return {
    node_name: c.nodeName,
    datacenter: "dc1",
    data_dir: c.dataDir,
    bind_addr: "127.0.0.1",
    client_addr: "127.0.0.1",
    advertise_addr: "127.0.0.1",
    ports: {
      http: c.ports.http,
      dns: c.ports.dns,
      grpc: c.ports.grpc,
      grpc_tls: -1,
      https: -1,
      serf_lan: c.ports.serfLan,
      serf_wan: c.ports.serfWan,
      server: c.ports.server,
    },
    disable_update_check: true,
    // A failing check's output reaches the catalog at once, not after 5 minutes: deploy fails a
    // canary that answers its health check with an error from that output.
    check_update_interval: "0s",
    log_level: "INFO",
    ...(c.aclManagementToken
      ? {
          acl: {
            enabled: true,
            default_policy: "deny",
            tokens: { initial_management: c.aclManagementToken },
          },
        }
      : {}),
  };
}

/**
 * Nomad in -dev mode (server and client), HCL, on loopback only. Job ports are published by
 * Docker on the address of the client's network_interface ("lo", so 127.0.0.1), which is also
 * the address Nomad registers in Consul: Consul's checks and Traefik on the host both reach it.
 * Jobs must use Nomad's default "host" network mode with the docker driver (bridge mode needs
 * CNI plugins and a pause image that cannot be pulled here).
 */
export function nomadDevConfig(c: {
  name: string;
  dataDir: string;
  http: number;
  rpc: number;
  serf: number;
  /** Consul's HTTP address, `127.0.0.1:port`. */
  consul: string;
  acl?: boolean;
}): string {
  const q = (s: string): string => JSON.stringify(s);
  return `name      = ${q(c.name)}
data_dir  = ${q(c.dataDir)}
bind_addr = "127.0.0.1"
log_level = "INFO"
# no version check against checkpoint-api.hashicorp.com: the agents talk to loopback only
disable_update_check = true

ports {
  http = ${c.http}
  rpc  = ${c.rpc}
  serf = ${c.serf}
}

advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}

client {
  network_interface = "lo"
  options = {
    # The cloud fingerprinters probe a metadata address off this machine, and env_aws fails the
    # whole client when AWS_CA_BUNDLE is set ("unable to add custom RootCAs HTTPClient").
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}

consul {
  address = ${q(c.consul)}
}
${c.acl ? "\nacl {\n  enabled = true\n}\n" : ""}
plugin "docker" {
  config {
    # Images cannot be pulled again here: never delete one when its last container goes.
    gc {
      image     = false
      container = true
    }
    extra_labels = ["job_name", "job_id", "task_group_name", "task_name", "namespace", "node_name", "node_id"]
    volumes {
      enabled = false
    }
  }
}
`;
}

export type TraefikProvider = "consulCatalog" | "nomad";

/**
 * Traefik with its `web` entrypoint, the `canary` entrypoint of the canary routers, and its API
 * and /ping on a `traefik` entrypoint (JSON is YAML).
 */
export function traefikDevConfig(c: {
  web: number;
  api: number;
  canary: number;
  providers: readonly TraefikProvider[];
  /** Consul's HTTP address, `127.0.0.1:port`, for the consulCatalog provider. */
  consul?: string;
  /** The ACL token the consulCatalog provider reads the catalog with (Consul enforcing ACLs). */
  consulToken?: string;
  /** Nomad's HTTP URL, for the nomad provider. */
  nomad?: string;
}): Record<string, unknown> {
  const providers: Record<string, unknown> = { providersThrottleDuration: "500ms" };
  if (c.providers.includes("consulCatalog")) {
    if (!c.consul) throw new Error("the consulCatalog provider needs a Consul address");
    providers.consulCatalog = {
      refreshInterval: "1s",
      exposedByDefault: false,
      endpoint: {
        address: c.consul,
        scheme: "http",
        ...(c.consulToken ? { token: c.consulToken } : {}),
      },
    };
  }
  if (c.providers.includes("nomad")) {
    if (!c.nomad) throw new Error("the nomad provider needs a Nomad address");
    providers.nomad = {
      refreshInterval: "1s",
      exposedByDefault: false,
      endpoint: { address: c.nomad },
    };
  }
  return {
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    entryPoints: {
      web: { address: `127.0.0.1:${c.web}` },
      traefik: { address: `127.0.0.1:${c.api}` },
      [canaryEntrypoint]: { address: `127.0.0.1:${c.canary}` },
    },
    api: { insecure: true, dashboard: false },
    ping: { entryPoint: "traefik" },
    log: { level: "INFO" },
    providers,
  };
}

/** What Nomad's node list says of each node's drivers. */
export interface NodeReadiness {
  ID: string;
  Status: string;
  Drivers?: Record<string, { Healthy?: boolean; Detected?: boolean } | undefined>;
}

/** The node that can place a job: ready, with a healthy Docker driver; undefined until then. */
export function readyDockerNode<N extends NodeReadiness>(nodes: readonly N[]): N | undefined {
  return nodes.find((n) => n.Status === "ready" && n.Drivers?.docker?.Healthy === true);
}

/** Ports of the dev target's agents. The HTTP ones are cluster.yaml's targets.dev.endpoints. */
export interface DevAgentPorts {
  consul: ConsulDevPorts;
  nomad: { http: number; rpc: number; serf: number };
  traefik: { web: number; api: number; canary: number };
}

/** The three agents of the dev target, their files in `stateDir` (.elm-infra/dev). */
export function devAgentFiles(
  stateDir: string,
  ports: DevAgentPorts,
): { "consul.json": string; "nomad.hcl": string; "traefik.yml": string } {
  const consul = `127.0.0.1:${ports.consul.http}`;
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    "consul.json": json(
      consulDevConfig({
        nodeName: "elm-infra-dev",
        dataDir: join(stateDir, "consul-data"),
        ports: ports.consul,
      }),
    ),
    "nomad.hcl": nomadDevConfig({
      name: "elm-infra-dev",
      dataDir: join(stateDir, "nomad-data"),
      ...ports.nomad,
      consul,
    }),
    "traefik.yml": json(
      traefikDevConfig({ ...ports.traefik, providers: ["consulCatalog"], consul }),
    ),
  };
}
