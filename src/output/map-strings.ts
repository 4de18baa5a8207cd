/**
 * Pure: `value` with every string inside it (in arrays and plain objects, at any depth) replaced
 * by `f` of it; the shape is kept. Other objects (a Date, a Buffer) are left as they are, so
 * JSON.stringify still writes them its way.
 */
export function mapStrings<T>(value: T, f: (text: string) => string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return f(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return v;
      return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, walk(inner)]));
    }
    return v;
  };
  return walk(value) as T;
}
