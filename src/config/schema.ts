import { z } from "zod";
import { cronProblem } from "./cron.js";
import { lookUp } from "./lookup.js";
import { sshPublicKeyProblem } from "./ssh-public-key.js";

/** Hostnames as Traefik's Host() rule and DNS accept them; nothing that could escape a rule. */
const hostname = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "must be a lower-case DNS name like www.elm-lang.org",
  );

/** Names that end up in job IDs, container names and file names. */
const identifier = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$/, "must be lower-case letters, digits, '.' or '-'");

const path = z.string().min(1, "must not be empty");

const loopbackUrl = z
  .string()
  .regex(
    /^http:\/\/(127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|localhost|\[::1\]):[0-9]{1,5}\/?$/,
    "must be a loopback URL like http://127.0.0.1:4646",
  );

/** A VM's address: an IPv4 address or a DNS name (something all digits and dots must be IPv4). */
const hostAddress = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "must be an IPv4 address or a lower-case DNS name like manager-1.example.org",
  )
  .refine(
    (a) =>
      !/^[0-9.]+$/.test(a) ||
      /^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/.test(
        a,
      ),
    "must be an IPv4 address like 10.0.0.5",
  );

/** An IPv4 or IPv6 range in CIDR notation; never the whole internet. */
const cidr = z
  .string()
  // zod's own checks: octets up to 255, a prefix up to /32 (/128 for IPv6)
  .refine(
    (c) => z.cidrv4().safeParse(c).success || z.cidrv6().safeParse(c).success,
    "must be an address range like 203.0.113.7/32",
  )
  .refine((c) => !/^(0\.0\.0\.0|::)\/0$/.test(c), "must not be the whole internet");

/** `host[:port][/path]`: where images are pushed or pulled (no scheme: always HTTPS). */
const registryAddress = z
  .string()
  .regex(
    /^[a-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._-]+)*$/,
    "must be a registry address like registry.digitalocean.com/elm",
  )
  .refine(
    (a) => a !== "local",
    "'local' (images shipped over SSH) is gone: give the local registry as { push, pull }, or 'none' for the dev target",
  );

/** A periodic job's schedule: 5-field cron (UTC) or an alias like @hourly. */
const cronSchedule = z.string().refine((s) => !cronProblem(s), {
  message: "must be a cron schedule (5 fields) or @hourly, @daily, @weekly",
});

const sshSettings = z.strictObject({
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Unix user name")
    .default("root"),
  port: z.number().int().min(1).max(65535).default(22),
  privateKey: path.describe("path to the private key, relative to cluster.yaml"),
  knownHosts: path
    .describe("file where host keys are pinned on first contact")
    .default(".elm-infra/known_hosts"),
  /**
   * digitalocean: the MD5 fingerprint of the public key when the account has it already (`doctl
   * compute ssh-key list`): used instead of uploading it again, which DigitalOcean refuses.
   */
  accountKeyFingerprint: z
    .string()
    .regex(
      /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/,
      "must be the key's MD5 fingerprint as DigitalOcean lists it (16 hex pairs joined by ':')",
    )
    .optional(),
});

const sizes = z.strictObject({
  manager: z.string().min(1),
  worker: z.string().min(1),
});

/** A duration as cluster.yaml writes it (10s, 5m, 1h), in seconds. */
export function durationSeconds(d: string): number {
  return Number(d.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[d.slice(-1)]!;
}

const duration = z.string().regex(/^[0-9]{1,4}(s|m|h)$/, "must be a duration like 10s, 5m or 1h");

export const targetSchema = z
  .strictObject({
    provider: z.enum(["digitalocean", "local"]),
    region: z.string().min(1),
    sizes,
    image: z
      .string()
      .min(1)
      .describe("VM base image: a DigitalOcean slug, or the local host image"),
    managers: z
      .number()
      .int()
      .min(1)
      .max(7)
      .refine((n) => n % 2 === 1, "must be odd (1, 3, 5 or 7) so the servers keep a quorum"),
    workers: z.number().int().min(1).max(50),
    domains: z
      .record(z.string(), z.array(hostname).min(1))
      .default({})
      .describe("per service, the hostnames on this target; defaults to the service's hostnames"),
    ssh: sshSettings,
    /**
     * Where images go: one address both ways (production: DigitalOcean's registry), `{ push, pull }`
     * when the operator reaches the registry at another address than the workers (the local
     * target: loopback vs its network), or `none` (the dev target: its one Nomad uses this
     * machine's Docker engine, so an image built here is already where it runs).
     */
    registry: z.union(
      [
        z.literal("none"),
        registryAddress,
        z.strictObject({ push: registryAddress, pull: registryAddress }),
      ],
      {
        error:
          "must be 'none', a registry address like registry.digitalocean.com/elm, or { push, pull } addresses",
      },
    ),
    /**
     * Where the APIs answer when they are on this machine (the local dev agents). Without it,
     * elm-infra reaches a cluster through an SSH tunnel to a manager. Loopback only: the APIs are
     * never exposed publicly.
     */
    endpoints: z
      .strictObject({
        nomad: loopbackUrl,
        consul: loopbackUrl,
        traefikApi: loopbackUrl,
        entrypoint: loopbackUrl,
        /** Traefik's canary entrypoint (the canary routers; never public). */
        canaryEntrypoint: loopbackUrl,
      })
      .optional(),
    /**
     * Addresses of the VMs (bring-up writes them; until then users list them). Without `endpoints`,
     * elm-infra tunnels over SSH to the first manager that answers to reach Nomad and Consul (on the
     * manager's loopback) and the first worker's Traefik API and entrypoint.
     */
    hosts: z
      .strictObject({
        managers: z.array(hostAddress).min(1, "needs at least one manager"),
        workers: z.array(hostAddress),
      })
      .optional(),
    /**
     * Loopback ports where the local target publishes what a user reaches; each host's SSH port is
     * `ssh` plus the last number of its address (manager-1: ssh + 11, worker-1: ssh + 101).
     */
    ports: z
      .strictObject({
        http: z.number().int().min(1024).max(65535).default(8080),
        https: z.number().int().min(1024).max(65535).default(8443),
        ssh: z.number().int().min(1024).max(65336).default(2200),
        /** The target's test DNS (its challtestsrv, the stand-in for the zone): default 8053. */
        dns: z.number().int().min(1024).max(65535).optional(),
      })
      .default({ http: 8080, https: 8443, ssh: 2200 }),
    /** The hosts' private network: the local Docker subnet (/24 or larger), or the VPC's range. */
    network: z
      .strictObject({
        subnet: cidr.describe("default 10.213.0.0/24 (local) or 10.110.0.0/20 (digitalocean)"),
      })
      .optional(),
    /**
     * HTTPS: where the certificates come from. Every target without `endpoints` serves its
     * hostnames over HTTPS with certificates from an ACME CA: on digitalocean Let's Encrypt (its
     * staging CA unless the target is named production), on local the target's own Pebble.
     */
    acme: z
      .strictObject({
        email: z
          .email("must be an email address like ops@elm-lang.org")
          .optional()
          .describe("the ACME account's contact"),
        directory: z
          .string()
          .regex(/^https:\/\/[^\s]+$/, "must be an https:// URL of an ACME directory")
          .optional()
          .describe("the CA's directory URL; default by provider (see above)"),
        certificateLifetime: duration
          .optional()
          .describe("local only: how long Pebble's certificates last; default 1h"),
        renewBefore: duration
          .optional()
          .describe(
            "renew a certificate once it has less than this left, besides the rule of a third of its lifetime (as lego's --days); default: the third only",
          ),
      })
      .refine(
        (a) =>
          a.renewBefore === undefined ||
          a.certificateLifetime === undefined ||
          durationSeconds(a.renewBefore) < durationSeconds(a.certificateLifetime),
        {
          message:
            "acme.renewBefore must be shorter than acme.certificateLifetime, or every certificate is due as soon as it is issued",
          path: ["renewBefore"],
        },
      )
      .optional(),
    /**
     * The apt repository the hosts install Consul and Nomad from, laid out as HashiCorp's; default
     * apt.releases.hashicorp.com (digitalocean) or the target's own signed stand-in (local).
     */
    agentRepository: z
      .strictObject({
        url: z
          .string()
          .regex(/^https?:\/\/[^\s]+[^/\s]$/, "must be an http(s):// URL without a trailing /"),
        keyUrl: z
          .string()
          .regex(/^https?:\/\/[^\s]+$/, "must be an http(s):// URL")
          .optional()
          .describe("where its signing key is; default <url>/gpg"),
      })
      .optional(),
    /**
     * digitalocean: DNS. `zone`: a domain hosted on DigitalOcean (its name servers answer for it):
     * OpenTofu keeps an A record of every hostname there, pointing at the load balancer. Without
     * it, bring-up says which records to create. `resolvers`: the DNS servers bring-up asks
     * whether every hostname points at the load balancer yet (default public ones, as a CA sees
     * it). The local target has its own test DNS, which holds every hostname's record.
     */
    dns: z
      .strictObject({
        zone: hostname.optional().describe("a domain hosted on DigitalOcean, e.g. elm-lang.org"),
        resolvers: z
          .array(
            z
              .string()
              .regex(
                /^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(:[0-9]{1,5})?$/,
                "must be an IPv4 address, with a port if not 53, like 1.1.1.1 or 10.0.0.2:5353",
              ),
          )
          .min(1)
          .optional()
          .describe("default 1.1.1.1 and 8.8.8.8"),
      })
      .optional(),
    /**
     * The cluster's own state (Nomad's and Consul's raft snapshots), taken inside the cluster by a
     * periodic job on a worker, encrypted to the secrets file's age identity.
     */
    snapshots: z
      .strictObject({
        schedule: cronSchedule
          .optional()
          .describe("when the periodic snapshot job runs (UTC); default @hourly"),
        keep: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .optional()
          .describe("snapshots kept on each worker; default 24"),
      })
      .optional(),
    /**
     * digitalocean: who may reach the droplets' SSH port, with the operators' adminCidr (one of
     * them required there; no default).
     */
    adminCidrs: z.array(cidr).min(1).optional(),
    /**
     * The target's shared state in an S3-compatible object store (docs/shared-state.md): the
     * operations lock as a lease there, so operators on several machines take turns. The access
     * key comes only from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from
     * this file. Without it the target's state and lock stay on this machine (one operator).
     * `backup` copies each backup and cluster snapshot pair there too (off-site copies).
     */
    store: z
      .strictObject({
        endpoint: z
          .string()
          .regex(
            /^https?:\/\/[^\s/]+\/?$/,
            "must be an http(s):// URL of the S3 API, without a path",
          )
          .describe("e.g. https://fra1.digitaloceanspaces.com"),
        bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name"),
        region: z
          .string()
          .regex(/^[a-z0-9-]{2,32}$/, "must be a region like fra1 or us-east-1")
          .describe("the request signature's region: the Spaces region, or the store's own"),
        prefix: z
          .string()
          .regex(
            /^([A-Za-z0-9._-]+\/)+$/,
            "must be folder names each ending with /, like elm-infra/production/",
          )
          .optional()
          .describe("default elm-infra/<target>/"),
        keepBackups: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .optional()
          .describe(
            "off-site copies kept in the store: of each service's backups, and of the cluster's snapshot pairs; default 7",
          ),
      })
      .optional(),
    /**
     * Who operates the target (docs/shared-state.md): the cluster secrets in the target's store
     * are encrypted with age to every operator's recipient (`age-keygen -y` of their identity);
     * adding one here and running bring-up re-encrypts them. Each reads them with their own
     * identity (ELM_INFRA_AGE_IDENTITY or ELM_INFRA_AGE_IDENTITY_FILE).
     */
    operators: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(/^[A-Za-z0-9][A-Za-z0-9._@ -]{0,63}$/, "must be a short name, like ada or ci"),
          ageRecipient: z
            .string()
            .regex(
              /^age1[02-9ac-hj-np-z]{58}$/,
              "must be an age X25519 recipient (age1..., what age-keygen -y prints)",
            ),
          sshKey: z
            .string()
            .max(16_000)
            .optional()
            .describe(
              "their OpenSSH public key line: authorised for ssh.user on every host at bring-up",
            ),
          adminCidr: z
            .union([cidr, z.array(cidr).min(1)])
            .optional()
            .describe("digitalocean: their addresses, joining adminCidrs in the cloud firewall"),
        }),
      )
      .min(1)
      .optional(),
    /** digitalocean: OpenTofu's state in a Spaces bucket (S3 API) instead of .elm-infra/. */
    remoteState: z
      .strictObject({
        bucket: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "must be a Spaces bucket name"),
        region: z.string().regex(/^[a-z]{3}[0-9]$/, "must be a Spaces region like fra1"),
        key: z.string().min(1).optional().describe("default elm-infra/<target>.tfstate"),
        endpoint: z
          .string()
          .url()
          .optional()
          .describe("default https://<region>.digitaloceanspaces.com"),
      })
      .optional(),
  })
  .superRefine((t, ctx) => {
    // The local target's hosts publish their sshd's port 22 on 127.0.0.1 (ports.ssh picks where).
    if (t.provider === "local" && t.ssh.port !== 22)
      ctx.addIssue({
        code: "custom",
        path: ["ssh", "port"],
        message:
          "is the port sshd listens on in a DigitalOcean droplet; the local target's hosts listen on 22 and are reached at ports.ssh on 127.0.0.1: leave ssh.port out",
      });
    for (const field of ["name", "ageRecipient"] as const) {
      const seen = new Set<string>();
      (t.operators ?? []).forEach((o, i) => {
        if (seen.has(o[field]))
          ctx.addIssue({
            code: "custom",
            path: ["operators", i, field],
            message: `is listed twice: each operator once`,
          });
        seen.add(o[field]);
      });
    }
    (t.operators ?? []).forEach((o, i) => {
      const problem = o.sshKey === undefined ? null : sshPublicKeyProblem(o.sshKey);
      if (problem)
        ctx.addIssue({
          code: "custom",
          path: ["operators", i, "sshKey"],
          message: `(operator ${o.name}) ${problem}`,
        });
      if (t.provider === "local" && o.adminCidr !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["operators", i, "adminCidr"],
          message: `(operator ${o.name}) is for DigitalOcean's cloud firewall; the local target's hosts are reached on 127.0.0.1: leave it out`,
        });
    });
    if (t.store && t.remoteState)
      ctx.addIssue({
        code: "custom",
        path: ["remoteState"],
        message:
          "is OpenTofu's state in Spaces without a lock; a target with a store keeps its state there, locked: leave remoteState out",
      });
    if (t.provider === "local" && t.dns)
      ctx.addIssue({
        code: "custom",
        path: ["dns"],
        message:
          "is DigitalOcean's DNS; the local target's own test DNS holds every hostname's record: leave dns out",
      });
  });

/** Timings of a service job's update; the deploy watcher derives its deadlines from these. */
export interface UpdateTimings {
  minHealthyTime: string;
  healthyDeadline: string;
  progressDeadline: string;
}

export const defaultUpdate: UpdateTimings = {
  minHealthyTime: "10s",
  healthyDeadline: "2m",
  progressDeadline: "5m",
};

/**
 * Nomad refuses an update whose min_healthy_time is not shorter than its healthy_deadline, or
 * whose healthy_deadline is not shorter than its progress_deadline: said here, with the field,
 * instead of by Nomad's plan (with the defaults for the fields not given).
 */
export function updateTimingProblems(
  given: Partial<UpdateTimings>,
): Array<{ field: keyof UpdateTimings; message: string }> {
  const t = { ...defaultUpdate, ...given };
  const problems: Array<{ field: keyof UpdateTimings; message: string }> = [];
  if (durationSeconds(t.minHealthyTime) >= durationSeconds(t.healthyDeadline))
    problems.push({
      field: given.minHealthyTime ? "minHealthyTime" : "healthyDeadline",
      message: `minHealthyTime (${t.minHealthyTime}) must be shorter than healthyDeadline (${t.healthyDeadline})`,
    });
  if (durationSeconds(t.healthyDeadline) >= durationSeconds(t.progressDeadline))
    problems.push({
      field: given.healthyDeadline ? "healthyDeadline" : "progressDeadline",
      message: `healthyDeadline (${t.healthyDeadline}) must be shorter than progressDeadline (${t.progressDeadline})`,
    });
  return problems;
}

const resources = z.strictObject({
  cpu: z.number().int().min(20).max(16000).describe("MHz"),
  memory: z.number().int().min(16).max(65536).describe("MiB"),
});

const persistentData = z.strictObject({
  volume: identifier,
  mountPath: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path"),
  node: z
    .string()
    .optional()
    .describe(
      "worker that holds the data when bring-up has recorded none; the job is pinned to it",
    ),
  backup: z
    .strictObject({
      schedule: cronSchedule
        .optional()
        .describe("when the periodic backup job runs (UTC); default @hourly"),
      keep: z.number().int().min(1).max(1000).optional().describe("backups kept; default 24"),
    })
    .optional(),
});

export const serviceSchema = z.strictObject({
  job: path.describe("Handlebars template of the Nomad job, relative to cluster.yaml"),
  image: z
    .string()
    .regex(
      /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/,
      "must be an image repository name",
    ),
  hostnames: z.array(hostname).min(1),
  healthPath: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, "must be a path like /health"),
  port: z.number().int().min(1).max(65535),
  count: z.number().int().min(1).max(100),
  resources,
  data: persistentData.optional(),
  checkInterval: duration
    .refine((d) => durationSeconds(d) >= 1, "must be at least 1s (Nomad's shortest)")
    .optional()
    .describe("how often Consul runs the health check on healthPath; default 5s"),
  /** Nomad update timings; the deploy watcher's deadlines follow progressDeadline. */
  update: z
    .strictObject({
      minHealthyTime: duration.optional(),
      healthyDeadline: duration.optional(),
      progressDeadline: duration.optional(),
    })
    .superRefine((u, ctx) => {
      for (const p of updateTimingProblems(u))
        ctx.addIssue({ code: "custom", path: [p.field], message: p.message });
    })
    .optional(),
});

/** Not a service's name: `backup cluster` means the cluster's own state (Nomad's and Consul's). */
export const reservedServiceName = "cluster";

export const clusterSchema = z
  .strictObject({
    targets: z
      .record(identifier, targetSchema)
      .refine((t) => Object.keys(t).length > 0, "needs at least one target"),
    services: z
      .record(z.string(), serviceSchema)
      .refine((s) => Object.keys(s).length > 0, "needs at least one service")
      .refine(
        (s) => !Object.hasOwn(s, reservedServiceName),
        `must not name a service '${reservedServiceName}': \`backup ${reservedServiceName}\` backs up the cluster's own state`,
      ),
    defaultTarget: z
      .string()
      .optional()
      .describe("target used when neither --target nor ELM_INFRA_TARGET is given"),
    terraform: z
      .strictObject({ binary: z.enum(["tofu", "terraform", "auto"]).default("auto") })
      .default({ binary: "auto" }),
  })
  .superRefine((cluster, ctx) => {
    // OpenTofu can make records only inside the zone: a hostname outside it is said at once.
    for (const [name, target] of Object.entries(cluster.targets)) {
      const zone = target.dns?.zone;
      if (!zone) continue;
      for (const [service, s] of Object.entries(cluster.services)) {
        const hostnames = lookUp(target.domains, service) ?? s.hostnames;
        const outside = hostnames.filter((h) => !isInZone(h, zone));
        if (outside.length > 0)
          ctx.addIssue({
            code: "custom",
            path: ["targets", name, "dns", "zone"],
            message: `${outside.join(", ")} (${service}) ${outside.length === 1 ? "is" : "are"} not in the zone ${zone}: OpenTofu makes records only inside it; give ${service} hostnames under ${zone} (targets.${name}.domains), or leave dns.zone out and create the records yourself`,
          });
      }
    }
  });

/** A hostname is in a zone when it is the zone's apex or a name under it. */
export function isInZone(hostname: string, zone: string): boolean {
  return hostname === zone || hostname.endsWith(`.${zone}`);
}

export const secretsSchema = z.strictObject({
  digitaloceanToken: z.string().min(1).optional(),
  registryUsername: z.string().min(1).optional(),
  registryPassword: z.string().min(1).optional(),
  // Nomad's and Consul's IDs are 128 random bits in UUID form, without RFC 4122's version and
  // variant bits (z.uuid() refused real tokens): any 8-4-4-4-12 hex string.
  nomadToken: z.guid("must be a Nomad ACL secret ID (a UUID)").optional(),
  consulToken: z.guid("must be a Consul ACL secret ID (a UUID)").optional(),
  /** The Consul agents' own token (node identity), created by the playbook with this SecretID. */
  consulAgentToken: z.guid("must be a Consul ACL secret ID (a UUID)").optional(),
  /** Nomad's token for Consul (service registration), created by the playbook. */
  consulNomadToken: z.guid("must be a Consul ACL secret ID (a UUID)").optional(),
  /** Traefik's token for Consul's catalog (read-only), handed to the ingress job. */
  consulTraefikToken: z.guid("must be a Consul ACL secret ID (a UUID)").optional(),
  consulGossipKey: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, "must be 32 bytes in base64 (consul keygen)")
    .optional(),
  nomadGossipKey: z
    .string()
    .regex(
      /^[A-Za-z0-9+/]{43}=$/,
      "must be 32 bytes in base64 (nomad operator gossip keyring generate)",
    )
    .optional(),
  /**
   * The age identity that decrypts the cluster's snapshots (the cluster holds only its
   * recipient): generated by bring-up, kept by destroy (the copies here still need it).
   */
  clusterSnapshotIdentity: z
    .string()
    .regex(/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/, "must be an age identity (age-keygen)")
    .optional() /** The team chat's incoming webhook (Slack-compatible): told of each ledger entry. */,
  notifyWebhookUrl: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
    .optional(),
});

export type Target = z.infer<typeof targetSchema>;
export type Service = z.infer<typeof serviceSchema>;
export type Cluster = z.infer<typeof clusterSchema>;
export type Secrets = z.infer<typeof secretsSchema>;
