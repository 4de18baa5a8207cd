/**
 * Names derived from a service's: a module of its own, below the planners that use them
 * (job-vars.ts and package-data.ts import it; neither imports the other back).
 */

/** Consul service names become DNS labels: no dots. */
export function consulServiceName(service: string): string {
  return service.replace(/[^a-z0-9-]/g, "-");
}
