import fc from 'fast-check';
import {
  decodeAmf0Values,
  decodeAmf3,
  decodeAmf3Values,
  ecmaArray,
  encodeAmf3,
  isEcmaArray,
  type AmfObject,
  type AmfValue,
} from '../../../src/protocol/amf';
import { AmfError } from '../../../src/protocol/errors';
import { amf3Value, canon } from './arbitraries';
import { ascii, hex, thrown } from './hex';

interface Golden {
  name: string;
  bytes: Buffer;
  value: AmfValue;
}

/** Values whose AMF3 encoding is unique: decode, encode, round trip, nothing left over. */
const golden: Golden[] = [
  { name: 'undefined', bytes: hex('00 // marker 0: undefined'), value: undefined },
  { name: 'null', bytes: hex('01 // marker 1: null'), value: null },
  { name: 'false', bytes: hex('02 // marker 2: false'), value: false },
  { name: 'true', bytes: hex('03 // marker 3: true'), value: true },
  { name: 'integer 0', bytes: hex('04 00 // marker 4: integer, U29 0'), value: 0 },
  { name: 'integer 127', bytes: hex('04 7f // U29 one byte'), value: 127 },
  { name: 'integer 128', bytes: hex('04 81 00 // U29 two bytes: 1<<7 | 0'), value: 128 },
  { name: 'integer 16383', bytes: hex('04 ff 7f // largest two-byte U29'), value: 16383 },
  { name: 'integer 16384', bytes: hex('04 81 80 00 // three-byte U29'), value: 16384 },
  { name: 'integer 2097151', bytes: hex('04 ff ff 7f // largest three-byte U29'), value: 2097151 },
  {
    name: 'integer 2097152',
    bytes: hex('04 80 c0 80 00 // four-byte U29: 7+7+7 bits, then a full byte'),
    value: 2097152,
  },
  { name: 'integer 2^28-1', bytes: hex('04 bf ff ff ff // largest integer'), value: 0x0fffffff },
  { name: 'integer -1', bytes: hex("04 ff ff ff ff // 29-bit two's complement"), value: -1 },
  { name: 'integer -2^28', bytes: hex('04 c0 80 80 00 // smallest integer'), value: -0x10000000 },
  {
    name: 'double 1.5',
    bytes: hex(`
      05                         // marker 5: double
      3f f8 00 00 00 00 00 00    // 1.5
    `),
    value: 1.5,
  },
  {
    name: 'double 2^28 (past the integer range)',
    bytes: hex('05 41 b0 00 00 00 00 00 00 // 268435456'),
    value: 0x10000000,
  },
  { name: 'double -0', bytes: hex('05 80 00 00 00 00 00 00 00 // -0'), value: -0 },
  { name: 'empty string', bytes: hex('06 01 // marker 6, U29S (0 << 1) | 1'), value: '' },
  {
    name: 'string',
    bytes: hex(`
      06                         // marker 6: string
      05                         // U29S (2 << 1) | 1: inline, 2 bytes
      ${ascii('hi')}             // UTF-8
    `),
    value: 'hi',
  },
  {
    name: 'XML',
    bytes: hex(`
      0b                         // marker 11: XML
      09                         // U29X (4 << 1) | 1
      ${ascii('<a/>')}           // UTF-8
    `),
    value: { kind: 'xml', xml: '<a/>' },
  },
  {
    name: 'date',
    bytes: hex(`
      08                         // marker 8: date
      01                         // U29D: inline
      42 78 bc fe 56 80 00 00    // double ms 1700000000000
    `),
    value: new Date(1700000000000),
  },
  {
    name: 'dense array',
    bytes: hex(`
      09                         // marker 9: array
      05                         // U29A (2 << 1) | 1: 2 dense items
      01                         // empty key: no associative part
      04 01                      // integer 1
      06 03 ${ascii('a')}        // string "a"
    `),
    value: [1, 'a'],
  },
  {
    name: 'associative array',
    bytes: hex(`
      09                         // marker 9: array
      01                         // U29A: 0 dense items
      03 ${ascii('a')}           // key "a"
      04 01                      // integer 1
      01                         // empty key: end of the associative part
    `),
    value: ecmaArray({ a: 1 }),
  },
  {
    name: 'anonymous object',
    bytes: hex(`
      0a                         // marker 10: object
      0b                         // U29O-traits: inline, inline traits, dynamic, 0 sealed
      01                         // class name "" (anonymous)
      03 ${ascii('a')} 04 01     // dynamic member a: 1
      01                         // empty key: end of dynamic members
    `),
    value: { a: 1 },
  },
  {
    name: 'typed object',
    bytes: hex(`
      0a                         // marker 10: object
      0b                         // inline traits, dynamic, 0 sealed
      07 ${ascii('Foo')}         // class name "Foo"
      03 ${ascii('x')} 04 02     // dynamic member x: 2
      01                         // end
    `),
    value: { kind: 'typedObject', className: 'Foo', properties: { x: 2 } },
  },
  {
    name: 'object reference',
    bytes: hex(`
      09 05 01                   // array (object index 0) of 2, no associative part
      0a 0b 01 01                // empty anonymous object (object index 1)
      0a 02                      // object: U29O-ref (1 << 1): reference to index 1
    `),
    value: ((): AmfValue => {
      const o = {};
      return [o, o];
    })(),
  },
  {
    name: 'byte array',
    bytes: hex(`
      0c                         // marker 12: ByteArray
      07                         // U29B (3 << 1) | 1
      01 02 03                   // bytes
    `),
    value: new Uint8Array([1, 2, 3]),
  },
];

/** Encodings our encoder does not produce (references, sealed traits, vectors...): decode only. */
const decodeOnly: Golden[] = [
  {
    name: 'a string reference',
    bytes: hex(`
      09 05 01                   // array of 2
      06 05 ${ascii('ab')}       // "ab" (string index 0)
      06 00                      // U29S-ref (0 << 1): string index 0
    `),
    value: ['ab', 'ab'],
  },
  {
    name: 'an XMLDocument',
    bytes: hex(`07 09 ${ascii('<a/>')} // marker 7: XMLDocument, 4 bytes`),
    value: { kind: 'xml', xml: '<a/>' },
  },
  {
    name: 'a mixed array',
    bytes: hex(`
      09 03                      // array, 1 dense item
      03 ${ascii('a')} 04 01     // associative a: 1
      01                         // end of associative part
      04 02                      // dense item 0: 2
    `),
    value: ecmaArray({ a: 1, 0: 2 }),
  },
  {
    name: 'sealed members and a traits reference',
    bytes: hex(`
      09 05 01                   // array of 2
      0a 13                      // object, inline traits, not dynamic, 1 sealed member
      07 ${ascii('Foo')}         // class "Foo"
      03 ${ascii('x')}           // sealed member name "x"
      04 01                      // x: 1
      0a 01                      // object, traits reference 0 (Foo)
      04 02                      // x: 2
    `),
    value: [
      { kind: 'typedObject', className: 'Foo', properties: { x: 1 } },
      { kind: 'typedObject', className: 'Foo', properties: { x: 2 } },
    ],
  },
  {
    name: 'an int vector',
    bytes: hex(`
      0d 05 00                   // Vector.<int>, 2 items, not fixed
      ff ff ff ff                // -1
      00 00 00 02                // 2
    `),
    value: [-1, 2],
  },
  {
    name: 'a uint vector',
    bytes: hex('0e 03 00 ff ff ff ff // Vector.<uint>, 1 item: 4294967295'),
    value: [4294967295],
  },
  {
    name: 'a double vector',
    bytes: hex('0f 03 01 3f f8 00 00 00 00 00 00 // Vector.<Number>, fixed, 1 item: 1.5'),
    value: [1.5],
  },
  {
    name: 'an object vector',
    bytes: hex(`
      10 05 00                   // Vector.<Object>, 2 items
      03 2a                      // element type "*"
      06 03 ${ascii('a')}        // "a"
      01                         // null
    `),
    value: ['a', null],
  },
  {
    name: 'a dictionary',
    bytes: hex(`
      11 05 00                   // Dictionary, 2 pairs, strong keys
      06 03 ${ascii('a')} 04 01  // "a" -> 1
      04 07 03                   // 7 -> true
    `),
    value: ecmaArray({ a: 1, 7: true }),
  },
  {
    name: 'an ArrayCollection',
    bytes: Buffer.concat([
      hex(`
        0a 07                    // object, inline traits, externalizable
        43                       // class name of 33 bytes
      `),
      Buffer.from('flex.messaging.io.ArrayCollection'),
      hex('09 03 01 04 01 // its source: the array [1]'),
    ]),
    value: [1],
  },
];

function amfError(fn: () => unknown): AmfError {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(AmfError);
  return e as AmfError;
}

describe('AMF3 golden tables', () => {
  it.each(golden)('decodes $name and consumes every byte', ({ bytes, value }) => {
    const out = decodeAmf3(bytes, 0);
    expect(canon(out.value)).toEqual(canon(value));
    expect(out.offset).toBe(bytes.length);
  });

  it.each(golden)('encodes $name to the golden bytes', ({ bytes, value }) => {
    expect(encodeAmf3(value).toString('hex')).toBe(bytes.toString('hex'));
  });

  it.each(golden)('round-trips $name', ({ value }) => {
    const bytes = encodeAmf3(value);
    expect(canon(decodeAmf3(bytes, 0).value)).toEqual(canon(value));
  });

  it.each(decodeOnly)('decodes $name', ({ bytes, value }) => {
    const out = decodeAmf3(bytes, 0);
    expect(canon(out.value)).toEqual(canon(value));
    expect(out.offset).toBe(bytes.length);
  });

  it('decodes a referenced object as the same instance', () => {
    const v = decodeAmf3(golden.find((g) => g.name === 'object reference')!.bytes, 0).value;
    const [a, b] = v as AmfObject[];
    expect(b).toBe(a);
  });

  it('decodes a self-referencing object as a cycle, and encodes the cycle as a reference', () => {
    const bytes = hex(`
      0a 0b 01                   // anonymous dynamic object (object index 0)
      09 ${ascii('self')}        // key "self" (U29S (4 << 1) | 1)
      0a 00                      // reference to object index 0
      01                         // end
    `);
    const v = decodeAmf3(bytes, 0).value as AmfObject;
    expect(v.self).toBe(v);
    expect(encodeAmf3(v).equals(bytes)).toBe(true);
  });

  it('keeps the string table across the values of one AMF3 stream', () => {
    expect(decodeAmf3Values(hex(`06 05 ${ascii('ab')} 06 00 // "ab", then a reference`))).toEqual([
      'ab',
      'ab',
    ]);
  });

  it('starts fresh reference tables at each AMF0 switch marker', () => {
    const twoSwitches = hex(`
      11 06 05 ${ascii('ab')}    // AMF0 switch, AMF3 "ab"
      11 06 00                   // AMF0 switch, string reference 0: the table is new
    `);
    expect(amfError(() => decodeAmf0Values(twoSwitches)).code).toBe('BAD_REFERENCE');
  });

  it('tags associative arrays and dictionaries as ECMA arrays', () => {
    expect(isEcmaArray(decodeAmf3(hex('09 01 03 61 04 01 01'), 0).value)).toBe(true);
    expect(isEcmaArray(decodeAmf3(hex('11 03 00 06 03 61 04 01'), 0).value)).toBe(true);
  });
});

describe('AMF3 bad input', () => {
  it.each([
    ['string', '06 00'],
    ['object', '0a 00'],
    ['traits', '0a 01'],
    ['array', '09 02'],
    ['date', '08 00'],
    ['byte array', '0c 00'],
  ])('rejects a %s reference to an unknown entry', (_what, bytes) => {
    expect(amfError(() => decodeAmf3(hex(bytes), 0)).code).toBe('BAD_REFERENCE');
  });

  it('rejects an unknown marker', () => {
    const e = amfError(() => decodeAmf3(hex('12'), 0));
    expect(e.code).toBe('UNKNOWN_MARKER');
    expect(e.details).toMatchObject({ marker: 0x12 });
  });

  it('rejects externalizable classes it cannot read', () => {
    const bytes = hex(`0a 07 07 ${ascii('Foo')} 01 // externalizable Foo`);
    const e = amfError(() => decodeAmf3(bytes, 0));
    expect(e.code).toBe('UNSUPPORTED_VALUE');
    expect(e.details).toMatchObject({ className: 'Foo' });
  });

  it('rejects a dictionary key that is not a primitive', () => {
    expect(amfError(() => decodeAmf3(hex('11 03 00 09 01 01 01'), 0)).code).toBe(
      'UNSUPPORTED_VALUE',
    );
  });

  it('gives UNEXPECTED_END for every truncation of every golden value', () => {
    for (const { bytes } of [...golden, ...decodeOnly]) {
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(amfError(() => decodeAmf3(bytes.subarray(0, cut), 0)).code).toBe('UNEXPECTED_END');
      }
    }
  });

  it('throws TOO_DEEP quickly for arrays, objects and vectors nested 100,000 deep', () => {
    const nests = [
      Buffer.from('090301'.repeat(100_000), 'hex'), // [[[...]]]
      Buffer.from('0a0b010361'.repeat(100_000), 'hex'), // { a: { a: ...
      Buffer.from('10030001'.repeat(100_000), 'hex'), // Vector.<Object> [[...]]
      Buffer.from('1103000401'.repeat(100_000), 'hex'), // dictionaries
    ];
    const t0 = Date.now();
    for (const bytes of nests) expect(amfError(() => decodeAmf3(bytes, 0)).code).toBe('TOO_DEEP');
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('enforces maxAmfStringLength and maxAmfEntries', () => {
    expect(
      amfError(() => decodeAmf3Values(hex('06 07 61 62 63'), { maxAmfStringLength: 2 })).code,
    ).toBe('STRING_TOO_LONG');
    expect(amfError(() => decodeAmf3(hex('09 ff ff ff 7f 01'), 0)).code).toBe('TOO_MANY_ENTRIES');
    expect(amfError(() => decodeAmf3(hex('0d ff ff ff 7f 00'), 0)).code).toBe('TOO_MANY_ENTRIES');
    expect(
      amfError(() => decodeAmf3Values(encodeAmf3({ a: 1, b: 2, c: 3 }), { maxAmfEntries: 2 })).code,
    ).toBe('TOO_MANY_ENTRIES');
  });

  it('never throws anything but AmfError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeAmf3Values(bytes);
        } catch (e) {
          if (!(e instanceof AmfError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('AMF3 encoder', () => {
  it('writes integers outside 29 bits, fractions and -0 as doubles', () => {
    expect(encodeAmf3(0x10000000)[0]).toBe(0x05);
    expect(encodeAmf3(-0x10000001)[0]).toBe(0x05);
    expect(encodeAmf3(0.5)[0]).toBe(0x05);
    expect(encodeAmf3(-0)[0]).toBe(0x05);
    expect(encodeAmf3(-0x10000000)[0]).toBe(0x04);
  });

  it.each([
    ['a function', () => 1],
    ['a bigint', 1n],
    ['the AMF0 unsupported value', { kind: 'unsupported' }],
    ['an empty dynamic key', { '': 1 }],
  ])('refuses %s with UNSUPPORTED_VALUE', (_name, value) => {
    expect(amfError(() => encodeAmf3(value as unknown as AmfValue)).code).toBe('UNSUPPORTED_VALUE');
  });

  it('decodes what it encodes, for arbitrary values', () => {
    fc.assert(
      fc.property(amf3Value, (value) => {
        const bytes = encodeAmf3(value);
        const out = decodeAmf3(bytes, 0);
        expect(out.offset).toBe(bytes.length);
        expect(canon(out.value)).toEqual(canon(value));
      }),
      { numRuns: 500 },
    );
  });
});
