/**
 * The context of a machine's snapshot as JSON that can be read back (`ctx` in a trace record),
 * for `trace check` to rebuild the snapshot a step started from.
 *
 * Plain data stays as it is. What JSON cannot hold becomes a tagged object: an actor reference
 * `{ $actor: id }` (its id only), bytes `{ $bytes: length }` (never the bytes), a function
 * `{ $fn: name }` (a clock or a random source), `{ $num: 'Infinity' }`, `{ $undefined: true }`
 * in arrays, `{ $map: [[k, v]…] }`, `{ $set: […] }`, `{ $error: name, message }`, `{ $date }`,
 * and `{ $cut: reason }` where a cycle or the depth limit stopped the copy. Reading it back
 * restores numbers, undefined, maps and sets; a function comes back as a stub that returns 0
 * (clocks and jitter feed timestamps and backoffs, not the state a step leads to); the rest stays
 * tagged. Secrets are masked by the recorder's redactor on the whole line, after this.
 */

/** Deeper than this, a value is cut (`{ $cut: 'depth' }`). */
export const CONTEXT_MAX_DEPTH = 24;

/** An actor reference: `send` and `sessionId`. */
function isActorRef(v: object): v is { id?: string; sessionId: string } {
  return typeof (v as { send?: unknown }).send === 'function' && 'sessionId' in v;
}

/** Encodes a context (or any value) as readable-back JSON data. */
export function encodeContext(
  value: unknown,
  actorId: (id: string) => string = (id) => id,
): unknown {
  const seen = new Set<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (v === undefined) return { $undefined: true };
    if (typeof v === 'number') return Number.isFinite(v) ? v : { $num: String(v) };
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (typeof v === 'function') return { $fn: v.name || 'anonymous' };
    if (typeof v !== 'object') return { $other: String(v) };
    if (v instanceof Uint8Array) return { $bytes: v.byteLength };
    if (ArrayBuffer.isView(v)) return { $bytes: v.byteLength };
    if (v instanceof Date) return { $date: v.toISOString() };
    if (v instanceof Error) return { $error: v.name, message: v.message };
    if (isActorRef(v)) return { $actor: actorId(v.id ?? v.sessionId) };
    if (seen.has(v)) return { $cut: 'cycle' };
    if (depth >= CONTEXT_MAX_DEPTH) return { $cut: 'depth' };
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
      if (v instanceof Map)
        return { $map: [...v.entries()].map(([k, x]) => [walk(k, depth + 1), walk(x, depth + 1)]) };
      if (v instanceof Set) return { $set: [...v].map((x) => walk(x, depth + 1)) };
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        // An absent field and an undefined one read the same; leave it out.
        if (x === undefined) continue;
        out[k] = walk(x, depth + 1);
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };
  return walk(value, 0);
}

const stub = (): number => 0;

/** Reads an encoded context back (see the module comment for what comes back how). */
export function decodeContext(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decodeContext);
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 || (keys.length === 2 && '$error' in o)) {
    if ('$undefined' in o) return undefined;
    if (typeof o.$num === 'string') return Number(o.$num);
    if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
    if ('$fn' in o) return stub;
    if (Array.isArray(o.$map))
      return new Map(
        (o.$map as unknown[][]).map(([k, x]) => [decodeContext(k), decodeContext(x)] as const),
      );
    if (Array.isArray(o.$set)) return new Set((o.$set as unknown[]).map(decodeContext));
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = decodeContext(x);
  return out;
}
