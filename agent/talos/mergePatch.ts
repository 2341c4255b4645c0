// JSON Merge Patch, RFC 7386 §2. Pure: neither argument is modified; the result shares no
// objects with either, so callers may mutate it freely.

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * RFC 7386 §2 MergePatch(Target, Patch): a non-object patch replaces the target (arrays included,
 * never merged element-wise); an object patch is applied key by key, `null` deleting the key.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    // defineProperty, not assignment: a `__proto__` key from YAML must stay a plain key.
    else Object.defineProperty(result, key, { value: mergePatch(result[key], value), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
