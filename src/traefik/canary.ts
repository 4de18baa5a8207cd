/**
 * The header that routes a request to the canary through Traefik before promotion: the job's
 * canary router matches it, and the canary proof sends it. (Its own module: rendering a job
 * needs it without loading an HTTP client.)
 */
export const canaryHeader = "X-Elm-Canary";

/** The response header each worker's Traefik adds to every answer: the worker's name. */
export const workerHeader = "X-Elm-Infra-Worker";
