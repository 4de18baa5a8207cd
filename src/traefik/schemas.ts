/**
 * The shapes of Traefik's API answers elm-infra reads, checked at the client (src/http.ts): the
 * fields the code relies on, with their types; every other field is kept as Traefik sent it.
 * client.ts derives its types from these.
 */
import { z } from "zod";
import { absentIfNull } from "../http.js";

export const router = z.looseObject({
  name: z.string(),
  rule: z.string(),
  service: z.string(),
  status: z.enum(["enabled", "disabled", "warning"]),
  provider: z.string(),
});

export const routers = z.array(router);

export const service = z.looseObject({
  name: z.string(),
  status: z.string(),
  serverStatus: absentIfNull(z.record(z.string(), z.enum(["UP", "DOWN"]))),
  /** The instances it routes to (a load-balanced service; absent for others). */
  loadBalancer: absentIfNull(
    z.looseObject({ servers: absentIfNull(z.array(z.looseObject({ url: z.string() }))) }),
  ),
});
