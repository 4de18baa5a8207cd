import dockerignore from "@balena/dockerignore";

/**
 * `.dockerignore` rules as the Docker CLI applies them, by @balena/dockerignore (a port of
 * Docker's own matcher): patterns are relative to the context root, `*` and `?` stay within one
 * path segment, `**` spans segments, a `!` line lets a path back in, the last matching line wins,
 * and a pattern that matches a folder matches everything in it. (The `ignore` package follows
 * .gitignore instead, where `*.txt` matches at any depth.)
 */
export type IgnoreRules = (contextPath: string) => boolean;

// A CommonJS module whose `module.exports` is the factory; its typings call that `default`.
const ignore = dockerignore as unknown as typeof dockerignore.default;

export function parseDockerignore(text: string): IgnoreRules {
  const rules = ignore().add(text);
  return (contextPath) => rules.ignores(contextPath);
}
