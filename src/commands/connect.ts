import type { LoadedConfig } from "../config/load.js";
import { ConsulClient } from "../consul/client.js";
import { NotImplementedError } from "../errors.js";
import { NomadClient } from "../nomad/client.js";
import { TraefikClient } from "../traefik/client.js";

export interface ClusterApis {
  nomad: NomadClient;
  consul: ConsulClient;
  traefik: TraefikClient;
  close(): Promise<void>;
}

/**
 * The cluster's APIs. On this machine (the local dev agents) they answer on loopback; a remote
 * cluster is reached through an SSH tunnel to a manager, never through a public port.
 */
export async function connectToCluster(
  config: LoadedConfig,
  extra: { onNomadRequest?: (method: string, path: string) => void } = {},
): Promise<ClusterApis> {
  const endpoints = config.target.endpoints;
  if (!endpoints) {
    throw new NotImplementedError(
      `reaching target '${config.targetName}' through an SSH tunnel (it needs the hosts that bring-up records); set targets.${config.targetName}.endpoints for agents on this machine`,
    );
  }
  return {
    nomad: new NomadClient({
      address: endpoints.nomad,
      ...(config.secrets.nomadToken ? { token: config.secrets.nomadToken } : {}),
      ...(extra.onNomadRequest ? { onRequest: extra.onNomadRequest } : {}),
    }),
    consul: new ConsulClient({
      address: endpoints.consul,
      ...(config.secrets.consulToken ? { token: config.secrets.consulToken } : {}),
    }),
    traefik: new TraefikClient({ api: endpoints.traefikApi, entrypoint: endpoints.entrypoint }),
    close: async () => undefined,
  };
}
