/**
 * The header that routes a request to the canary through Traefik before promotion: the job's
 * canary router matches it, and the canary proof sends it. (Its own module: rendering a job
 * needs it without loading an HTTP client.)
 */
export const canaryHeader = "X-Elm-Canary";

/**
 * The Traefik entrypoint the canary routers are on: bound to each worker's loopback (like the
 * API), so only the worker itself and an SSH tunnel reach it. The public entrypoints answer a
 * request carrying the canary header with the promoted version, never with the canary.
 */
export const canaryEntrypoint = "canary";

/** Where the canary entrypoint listens on each worker: its loopback only. */
export const canaryEntrypointPort = 8083;

/** The response header each worker's Traefik adds to every answer: the worker's name. */
export const workerHeader = "X-Elm-Infra-Worker";
