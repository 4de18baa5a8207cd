/**
 * DigitalOcean's API, for what OpenTofu's 1.x provider cannot tell before a bring-up: the container
 * registry's plan and what it already holds, and the account's VPCs (a new range must not overlap). The token is registered for redaction.
 * No test reaches this address (DigitalOcean cannot be reached from here): what bring-up decides
 * from the answers is pure and unit-tested (plan/registry.ts's registryRoom, plan/vpc.ts).
 */
import { z } from "zod";
import { HttpError, JsonApi } from "../http.js";
import { ConfigError } from "../errors.js";
import { registerSecret } from "../output/redact.js";

const subscription = z.object({
  subscription: z.object({
    tier: z.object({
      name: z.string(),
      slug: z.string(),
      /** 0: unlimited. */
      included_repositories: z.number(),
    }),
  }),
});

const repositories = z.object({
  repositories: z.array(z.object({ name: z.string() })).nullish(),
  links: z.object({ pages: z.object({ next: z.string().optional() }).nullish() }).nullish(),
});

const vpcList = z.object({
  vpcs: z.array(z.object({ name: z.string(), ip_range: z.string() })).nullish(),
  links: z.object({ pages: z.object({ next: z.string().optional() }).nullish() }).nullish(),
});

export interface RegistryPlan {
  name: string;
  slug: string;
  includedRepositories: number;
}

export class DigitalOceanApi {
  private readonly api: JsonApi;
  constructor(token: string, address = "https://api.digitalocean.com") {
    registerSecret(token);
    this.api = new JsonApi({
      name: "DigitalOcean's API",
      address,
      headers: { authorization: `Bearer ${token}` },
      deadlineMs: 15_000,
    });
  }

  /** The container registry's subscription tier. */
  async registryPlan(): Promise<RegistryPlan> {
    const { tier } = (
      await this.refused(() =>
        this.api.call({ method: "GET", path: "/v2/registry/subscription", answer: subscription }),
      )
    ).data.subscription;
    return { name: tier.name, slug: tier.slug, includedRepositories: tier.included_repositories };
  }

  /** The repositories the registry `name` holds (at most 20 pages of 100). */
  async registryRepositories(name: string): Promise<string[]> {
    const found: string[] = [];
    for (let page = 1; page <= 20; page++) {
      const res = await this.refused(() =>
        this.api.call({
          method: "GET",
          path: `/v2/registry/${encodeURIComponent(name)}/repositoriesV2`,
          query: { page, per_page: 100 },
          answer: repositories,
        }),
      );
      found.push(...(res.data.repositories ?? []).map((r) => r.name));
      if (!res.data.links?.pages?.next) break;
    }
    return found;
  }

  /** The account's VPCs: name and range (at most 20 pages of 200). */
  async vpcs(): Promise<Array<{ name: string; ipRange: string }>> {
    const found: Array<{ name: string; ipRange: string }> = [];
    for (let page = 1; page <= 20; page++) {
      const res = await this.refused(() =>
        this.api.call({
          method: "GET",
          path: "/v2/vpcs",
          query: { page, per_page: 200 },
          answer: vpcList,
        }),
      );
      found.push(...(res.data.vpcs ?? []).map((v) => ({ name: v.name, ipRange: v.ip_range })));
      if (!res.data.links?.pages?.next) break;
    }
    return found;
  }

  private async refused<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof HttpError && (error.status === 401 || error.status === 403))
        throw new ConfigError(
          [
            {
              file: "secrets",
              path: "digitaloceanToken",
              message: `DigitalOcean's API refused it (${error.status})`,
            },
          ],
          "give a token with the registry:read and vpc:read scopes (ELM_INFRA_DIGITALOCEAN_TOKEN, or secrets/<target>.yaml)",
        );
      throw error;
    }
  }
}
