/**
 * The entry a configuration map holds under a name a user typed: its own entry only, never a
 * property every object inherits (`constructor`, `__proto__`, `toString` are names like any
 * other, found in cluster.yaml or not at all).
 */
export function lookUp<T>(map: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(map, name) ? map[name] : undefined;
}
