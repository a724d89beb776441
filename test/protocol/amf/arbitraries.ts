/**
 * fast-check arbitraries for AMF values, and `canon`, which turns a value into a plain tree that
 * `toEqual` compares strictly (ECMA-array tags, dates, byte arrays, -0 and NaN all visible).
 */
import fc from 'fast-check';
import { ecmaArray, isEcmaArray, type AmfObject, type AmfValue } from '../../../src/protocol/amf';

const key = fc.string({ unit: 'grapheme', maxLength: 8 }).filter((k) => k !== 'kind');
const text = fc.string({ unit: 'grapheme', maxLength: 24 });

const leaf: fc.Arbitrary<AmfValue> = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.boolean(),
  text,
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
  text.map((xml) => ({ kind: 'xml' as const, xml })),
  fc.uint8Array({ maxLength: 16 }),
);

function tree(opts: { unsupported: boolean; amf3: boolean }): fc.Arbitrary<AmfValue> {
  const objKey = opts.amf3 ? key.filter((k) => k !== '') : key;
  const leaves = opts.unsupported
    ? fc.oneof(leaf, fc.constant({ kind: 'unsupported' as const }))
    : leaf;
  const { value } = fc.letrec<{ value: AmfValue; object: AmfObject }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaves,
      fc.array(tie('value'), { maxLength: 5 }),
      tie('object'),
      fc
        .dictionary(objKey, tie('value'), { maxKeys: 5, minKeys: opts.amf3 ? 1 : 0 })
        .map((o) => ecmaArray(o)),
      fc.record({
        kind: fc.constant('typedObject' as const),
        className: opts.amf3 ? text.filter((c) => c !== '') : text,
        properties: tie('object'),
      }),
    ),
    object: fc.dictionary(objKey, tie('value'), { maxKeys: 5 }),
  }));
  return value;
}

/** Any AMF0-encodable value. */
export const amfValue = tree({ unsupported: true, amf3: false });

/** Any value AMF3 encodes and decodes back unchanged (no empty keys or class names). */
export const amf3Value = tree({ unsupported: false, amf3: true });

/** A tagged plain tree for strict comparison with toEqual. */
export function canon(v: unknown, seen = new Set<unknown>()): unknown {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v;
  if (typeof v !== 'object' || v === null) return v;
  if (seen.has(v)) return '[cycle]';
  seen.add(v);
  try {
    if (v instanceof Date) return { $date: v.getTime() };
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
    if (Array.isArray(v)) return { $array: v.map((x) => canon(x, seen)) };
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = canon((v as Record<string, unknown>)[k], seen);
    return isEcmaArray(v) ? { $ecma: out } : { $object: out };
  } finally {
    seen.delete(v);
  }
}
