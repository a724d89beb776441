import { ECMA_ARRAY } from '../protocol/amf/types';

/** Turns decoded values (AMF, Uint8Array, Date, bigint) into plain JSON-safe values. */
export function toJsonValue(value: unknown, maxBytes = 64): unknown {
  if (value === undefined) return null;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) {
    const hex = Buffer.from(
      value.buffer,
      value.byteOffset,
      Math.min(value.byteLength, maxBytes),
    ).toString('hex');
    return value.byteLength > maxBytes ? { bytes: value.byteLength, head: hex } : { hex };
  }
  if (Array.isArray(value)) return value.map((v) => toJsonValue(v, maxBytes));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      out[k] = toJsonValue(v, maxBytes);
    if ((value as Record<symbol, unknown>)[ECMA_ARRAY]) out['$ecmaArray'] = true;
    return out;
  }
  return String(value);
}
