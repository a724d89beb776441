import fc from 'fast-check';
import {
  decodeAmf0,
  decodeAmf0Values,
  ecmaArray,
  encodeAmf0,
  encodeAmf0Values,
  isEcmaArray,
  MAX_ENCODE_DEPTH,
  type AmfObject,
  type AmfTypedObject,
  type AmfValue,
} from '../../../src/protocol/amf';
import { AmfError } from '../../../src/protocol/errors';
import { amfValue, canon } from './arbitraries';
import { ascii, hex, thrown } from './hex';

interface Golden {
  name: string;
  bytes: Buffer;
  value: AmfValue;
}

/** One golden table per AMF0 marker: decode, encode, round trip, nothing left over. */
const golden: Golden[] = [
  {
    name: 'number 1.5',
    bytes: hex(`
      00                         // marker 0: number
      3f f8 00 00 00 00 00 00    // IEEE-754 double 1.5
    `),
    value: 1.5,
  },
  {
    name: 'number -0',
    bytes: hex(`
      00                         // marker 0: number
      80 00 00 00 00 00 00 00    // double -0 (sign bit only)
    `),
    value: -0,
  },
  {
    name: 'boolean true',
    bytes: hex(`
      01                         // marker 1: boolean
      01                         // true
    `),
    value: true,
  },
  {
    name: 'boolean false',
    bytes: hex(`
      01                         // marker 1: boolean
      00                         // false
    `),
    value: false,
  },
  {
    name: 'string',
    bytes: hex(`
      02                         // marker 2: string
      00 05                      // u16 length 5
      ${ascii('hello')}          // UTF-8 bytes
    `),
    value: 'hello',
  },
  {
    name: 'UTF-8 string',
    bytes: hex(`
      02                         // marker 2: string
      00 05                      // u16 byte length 5 (3 characters)
      c3 a9                      // é
      e2 82 ac                   // €
    `),
    value: 'é€',
  },
  {
    name: 'object',
    bytes: hex(`
      03                         // marker 3: object
      00 01 ${ascii('a')}        // key "a"
      00 3f f0 00 00 00 00 00 00 // number 1
      00 01 ${ascii('b')}        // key "b"
      02 00 01 ${ascii('x')}     // string "x"
      00 00 09                   // empty key + object-end marker
    `),
    value: { a: 1, b: 'x' },
  },
  {
    name: 'null',
    bytes: hex(`05 // marker 5: null`),
    value: null,
  },
  {
    name: 'undefined',
    bytes: hex(`06 // marker 6: undefined`),
    value: undefined,
  },
  {
    name: 'ECMA array',
    bytes: hex(`
      08                         // marker 8: ECMA array
      00 00 00 02                // u32 count hint 2
      00 08 ${ascii('duration')} // key "duration"
      00 40 00 00 00 00 00 00 00 // number 2
      00 05 ${ascii('width')}    // key "width"
      00 c0 00 00 00 00 00 00 00 // number -2
      00 00 09                   // end
    `),
    value: ecmaArray({ duration: 2, width: -2 }),
  },
  {
    name: 'strict array',
    bytes: hex(`
      0a                         // marker 10: strict array
      00 00 00 03                // u32 count 3
      00 3f f0 00 00 00 00 00 00 // number 1
      02 00 01 ${ascii('a')}     // string "a"
      05                         // null
    `),
    value: [1, 'a', null],
  },
  {
    name: 'date',
    bytes: hex(`
      0b                         // marker 11: date
      42 78 bc fe 56 80 00 00    // double ms since epoch: 1700000000000
      00 00                      // s16 time zone (reserved, 0)
    `),
    value: new Date(1700000000000),
  },
  {
    name: 'unsupported',
    bytes: hex(`0d // marker 13: unsupported`),
    value: { kind: 'unsupported' },
  },
  {
    name: 'XML document',
    bytes: hex(`
      0f                         // marker 15: XML document
      00 00 00 04                // u32 length 4
      ${ascii('<a/>')}           // UTF-8 XML
    `),
    value: { kind: 'xml', xml: '<a/>' },
  },
  {
    name: 'typed object',
    bytes: hex(`
      10                         // marker 16: typed object
      00 03 ${ascii('Foo')}      // class name "Foo"
      00 01 ${ascii('x')}        // key "x"
      00 40 00 00 00 00 00 00 00 // number 2
      00 00 09                   // end
    `),
    value: { kind: 'typedObject', className: 'Foo', properties: { x: 2 } },
  },
  {
    name: 'byte array through the AMF3 switch',
    bytes: hex(`
      11                         // marker 17: switch to AMF3 for one value
      0c                         // AMF3 ByteArray
      07                         // U29 (3 << 1) | 1: inline, 3 bytes
      01 02 03                   // the bytes
    `),
    value: new Uint8Array([1, 2, 3]),
  },
];

describe('AMF0 golden tables', () => {
  it.each(golden)('decodes $name and consumes every byte', ({ bytes, value }) => {
    const out = decodeAmf0(bytes, 0);
    expect(canon(out.value)).toEqual(canon(value));
    expect(out.offset).toBe(bytes.length);
  });

  it.each(golden)('encodes $name to the golden bytes', ({ bytes, value }) => {
    expect(encodeAmf0(value).toString('hex')).toBe(bytes.toString('hex'));
  });

  it.each(golden)('round-trips $name through encode then decode', ({ value }) => {
    const bytes = encodeAmf0(value);
    const out = decodeAmf0(bytes, 0);
    expect(canon(out.value)).toEqual(canon(value));
    expect(out.offset).toBe(bytes.length);
  });

  it('decodes a value at an offset and returns the offset after it', () => {
    const bytes = hex(`
      ff ff                      // two bytes of something else
      02 00 02 ${ascii('ok')}    // string "ok"
      05                         // null, not read
    `);
    expect(decodeAmf0(bytes, 2)).toEqual({ value: 'ok', offset: 7 });
  });

  it('decodes a long string (marker 12) and encodes strings over 65535 bytes as long strings', () => {
    const body = 'a'.repeat(65536);
    const bytes = Buffer.concat([
      hex(`
        0c                       // marker 12: long string
        00 01 00 00              // u32 length 65536
      `),
      Buffer.from(body),
    ]);
    expect(decodeAmf0(bytes, 0)).toEqual({ value: body, offset: bytes.length });
    expect(encodeAmf0(body).equals(bytes)).toBe(true);
    expect(encodeAmf0('a'.repeat(65535))[0]).toBe(0x02);
  });

  it('decodes a short long string too', () => {
    const bytes = hex(`0c 00 00 00 02 ${ascii('hi')} // marker 12, u32 length 2, "hi"`);
    expect(decodeAmf0(bytes, 0).value).toBe('hi');
  });

  it('tags a decoded ECMA array so it encodes back as marker 8, and ignores the count hint', () => {
    const bytes = hex(`
      08 00 00 00 00             // ECMA array, count hint 0 (wrong: there is one pair)
      00 01 ${ascii('k')}        // key "k"
      01 01                      // true
      00 00 09                   // end
    `);
    const v = decodeAmf0(bytes, 0).value;
    expect(isEcmaArray(v)).toBe(true);
    expect(v).toEqual({ k: true });
    expect(Object.keys(v as object)).toEqual(['k']);
    expect(encodeAmf0(v)[0]).toBe(0x08);
  });

  it('resolves a reference to the same object instance', () => {
    const bytes = hex(`
      0a 00 00 00 02             // strict array of 2 (reference index 0)
      03                         // object (reference index 1)
      00 01 ${ascii('a')} 05     //   a: null
      00 00 09                   //   end
      07 00 01                   // marker 7: reference to index 1
    `);
    const v = decodeAmf0(bytes, 0).value as AmfObject[];
    expect(v[0]).toEqual({ a: null });
    expect(v[1]).toBe(v[0]);
  });

  it('counts strict arrays, typed objects and ECMA arrays in the reference table, not dates', () => {
    const bytes = hex(`
      0a 00 00 00 05             // strict array of 5 (index 0)
      10 00 01 ${ascii('A')}     // typed object A (index 1)
      00 00 09                   //   end
      0b 00 00 00 00 00 00 00 00 00 00 // a date: not in the table
      08 00 00 00 00 00 00 09    // empty ECMA array (index 2)
      07 00 02                   // reference to index 2: the ECMA array
      07 00 01                   // reference to index 1: the typed object
    `);
    const v = decodeAmf0(bytes, 0).value as AmfValue[];
    expect(v[3]).toBe(v[2]);
    expect(v[4]).toBe(v[0]);
    expect(isEcmaArray(v[2])).toBe(true);
  });

  it('encodes a cyclic object with a reference marker and decodes the cycle back', () => {
    const o: AmfObject = { n: 1 };
    o.self = o;
    const bytes = hex(`
      03                         // object (reference index 0)
      00 01 ${ascii('n')}        // key "n"
      00 3f f0 00 00 00 00 00 00 // 1
      00 04 ${ascii('self')}     // key "self"
      07 00 00                   // reference to index 0
      00 00 09                   // end
    `);
    expect(encodeAmf0(o).toString('hex')).toBe(bytes.toString('hex'));
    const back = decodeAmf0(bytes, 0).value as AmfObject;
    expect(back.self).toBe(back);
  });

  it('encodes a shared, non-cyclic object by value', () => {
    const shared = { '*': 7 };
    const values = decodeAmf0Values(encodeAmf0Values([{ a: shared, b: shared }]));
    expect(values).toEqual([{ a: { '*': 7 }, b: { '*': 7 } }]);
    expect(encodeAmf0Values([{ a: shared, b: shared }]).includes(0x07)).toBe(false);
  });

  it('shares one reference table across the values of a list', () => {
    const bytes = hex(`
      03 00 00 09                // value 1: empty object (index 0)
      07 00 00                   // value 2: reference to index 0
    `);
    const [a, b] = decodeAmf0Values(bytes);
    expect(b).toBe(a);
  });

  it('keeps a __proto__ key as data instead of changing the prototype', () => {
    const bytes = hex(`
      03 00 09 ${ascii('__proto__')} // object, key "__proto__"
      03 00 01 ${ascii('x')} 01 01 00 00 09 // value {x: true}
      00 00 09                   // end
    `);
    const v = decodeAmf0(bytes, 0).value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect((v as { x?: unknown }).x).toBeUndefined();
  });

  it('decodes an empty key whose value is not the end marker as a property ""', () => {
    const bytes = hex(`03 00 00 01 01 00 00 09 // object { "": true }`);
    expect(decodeAmf0(bytes, 0).value).toEqual({ '': true });
  });
});

describe('AMF0 bad input', () => {
  function amfError(fn: () => unknown): AmfError {
    const e = thrown(fn);
    expect(e).toBeInstanceOf(AmfError);
    return e as AmfError;
  }

  it('rejects an unknown marker', () => {
    const e = amfError(() => decodeAmf0(hex('12'), 0));
    expect(e.code).toBe('UNKNOWN_MARKER');
    expect(e.details).toMatchObject({ marker: 0x12, offset: 0 });
    expect(amfError(() => decodeAmf0(hex('ff'), 0)).code).toBe('UNKNOWN_MARKER');
  });

  it('rejects an object-end marker outside an object', () => {
    expect(amfError(() => decodeAmf0(hex('09'), 0)).code).toBe('UNKNOWN_MARKER');
  });

  it('rejects the reserved movieclip and recordset markers', () => {
    expect(amfError(() => decodeAmf0(hex('04'), 0)).code).toBe('UNSUPPORTED_VALUE');
    expect(amfError(() => decodeAmf0(hex('0e'), 0)).code).toBe('UNSUPPORTED_VALUE');
  });

  it('rejects a reference to an object not decoded yet', () => {
    const e = amfError(() => decodeAmf0(hex('07 00 00 // reference 0, table empty'), 0));
    expect(e.code).toBe('BAD_REFERENCE');
    expect(e.details).toMatchObject({ index: 0, known: 0 });
  });

  it('rejects reading past the end of the buffer', () => {
    expect(amfError(() => decodeAmf0(hex(''), 0)).code).toBe('UNEXPECTED_END');
    expect(amfError(() => decodeAmf0(hex('05'), 1)).code).toBe('UNEXPECTED_END');
    expect(amfError(() => decodeAmf0(hex('00 3f f0'), 0)).code).toBe('UNEXPECTED_END');
  });

  it('gives a typed error, never a RangeError, for every truncation of every golden value', () => {
    for (const { bytes } of golden) {
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(amfError(() => decodeAmf0(bytes.subarray(0, cut), 0)).code).toBe('UNEXPECTED_END');
      }
    }
  });

  it('throws TOO_DEEP quickly for objects nested 100,000 deep', () => {
    const bytes = Buffer.from('03000161'.repeat(100_000), 'hex'); // { a: { a: { ...
    const t0 = Date.now();
    const e = amfError(() => decodeAmf0(bytes, 0));
    expect(e.code).toBe('TOO_DEEP');
    expect(e.details).toMatchObject({ limit: 64 });
    expect(Date.now() - t0).toBeLessThan(200);
  });

  it('throws TOO_DEEP for strict arrays, ECMA arrays and AMF3 arrays nested 100,000 deep', () => {
    const nests = [
      Buffer.from('0a00000001'.repeat(100_000), 'hex'), // [[[...]]]
      Buffer.from('0800000001000161'.repeat(100_000), 'hex'), // ECMA { a: { a: ...
      Buffer.from('10000141000161'.repeat(100_000), 'hex'), // typed A { a: A { a: ...
      Buffer.concat([hex('11'), Buffer.from('090301'.repeat(100_000), 'hex')]), // AMF3 [[[...]]]
    ];
    for (const bytes of nests) {
      expect(amfError(() => decodeAmf0(bytes, 0)).code).toBe('TOO_DEEP');
    }
  });

  it('honours a custom maxAmfDepth', () => {
    const two = hex('0a 00 00 00 01 0a 00 00 00 00 // [[]]');
    expect(decodeAmf0Values(two, { maxAmfDepth: 2 })).toEqual([[[]]]);
    expect(amfError(() => decodeAmf0Values(two, { maxAmfDepth: 1 })).code).toBe('TOO_DEEP');
  });

  it('rejects strings longer than maxAmfStringLength before reading them', () => {
    const e = amfError(() =>
      decodeAmf0Values(hex(`02 00 03 ${ascii('abc')}`), { maxAmfStringLength: 2 }),
    );
    expect(e.code).toBe('STRING_TOO_LONG');
    expect(e.details).toMatchObject({ length: 3, limit: 2 });
    // A long string claiming 4 GiB with no bytes behind it: the limit, not an allocation.
    expect(amfError(() => decodeAmf0(hex('0c ff ff ff ff'), 0)).code).toBe('STRING_TOO_LONG');
    expect(amfError(() => decodeAmf0(hex('0f ff ff ff ff'), 0)).code).toBe('STRING_TOO_LONG');
  });

  it('rejects object keys longer than maxAmfStringLength', () => {
    const bytes = hex(`03 00 03 ${ascii('abc')} 05 00 00 09`);
    expect(amfError(() => decodeAmf0Values(bytes, { maxAmfStringLength: 2 })).code).toBe(
      'STRING_TOO_LONG',
    );
  });

  it('rejects containers with more than maxAmfEntries entries', () => {
    const obj = encodeAmf0({ a: 1, b: 2, c: 3 });
    expect(amfError(() => decodeAmf0Values(obj, { maxAmfEntries: 2 })).code).toBe(
      'TOO_MANY_ENTRIES',
    );
    const ecma = encodeAmf0(ecmaArray({ a: 1, b: 2, c: 3 }));
    expect(amfError(() => decodeAmf0Values(ecma, { maxAmfEntries: 2 })).code).toBe(
      'TOO_MANY_ENTRIES',
    );
    const arr = encodeAmf0([1, 2, 3]);
    expect(amfError(() => decodeAmf0Values(arr, { maxAmfEntries: 2 })).code).toBe(
      'TOO_MANY_ENTRIES',
    );
    expect(decodeAmf0Values(arr, { maxAmfEntries: 3 })).toEqual([[1, 2, 3]]);
  });

  it('rejects a strict array count of 2^32-1 without allocating it', () => {
    expect(amfError(() => decodeAmf0(hex('0a ff ff ff ff'), 0)).code).toBe('TOO_MANY_ENTRIES');
    // Within the entry limit but longer than the bytes left: every element needs a byte.
    expect(amfError(() => decodeAmf0(hex('0a 00 00 ff ff 05'), 0)).code).toBe('UNEXPECTED_END');
  });

  it('never throws anything but AmfError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeAmf0Values(bytes);
        } catch (e) {
          if (!(e instanceof AmfError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but AmfError on mutated valid encodings', () => {
    fc.assert(
      fc.property(amfValue, fc.nat(), fc.integer({ min: 0, max: 255 }), (value, at, byte) => {
        const bytes = Buffer.from(encodeAmf0(value));
        if (bytes.length > 0) bytes[at % bytes.length] = byte;
        try {
          decodeAmf0Values(bytes);
        } catch (e) {
          if (!(e instanceof AmfError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('AMF0 encoder', () => {
  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 10n],
    ['a Map', new Map()],
  ])('refuses %s with UNSUPPORTED_VALUE', (_name, value) => {
    const e = thrown(() => encodeAmf0(value as unknown as AmfValue));
    expect(e).toBeInstanceOf(AmfError);
    expect((e as AmfError).code).toBe('UNSUPPORTED_VALUE');
    const nested = thrown(() => encodeAmf0({ x: value } as unknown as AmfValue));
    expect((nested as AmfError).code).toBe('UNSUPPORTED_VALUE');
  });

  it('refuses an object key longer than 65535 bytes', () => {
    const e = thrown(() => encodeAmf0({ ['k'.repeat(70000)]: 1 }));
    expect((e as AmfError).code).toBe('UNSUPPORTED_VALUE');
  });

  it('refuses output larger than an RTMP message can carry', () => {
    const big = 'x'.repeat(9 * 1024 * 1024);
    const e = thrown(() => encodeAmf0Values([big, big]));
    expect((e as AmfError).code).toBe('UNSUPPORTED_VALUE');
  });

  it('refuses nesting deeper than MAX_ENCODE_DEPTH instead of overflowing the stack', () => {
    let deep: AmfValue = 1;
    for (let i = 0; i < MAX_ENCODE_DEPTH + 1; i++) deep = [deep];
    expect((thrown(() => encodeAmf0(deep)) as AmfError).code).toBe('UNSUPPORTED_VALUE');
    let deepObject: AmfValue = 1;
    for (let i = 0; i < MAX_ENCODE_DEPTH + 1; i++) deepObject = { a: deepObject };
    expect((thrown(() => encodeAmf0(deepObject)) as AmfError).code).toBe('UNSUPPORTED_VALUE');
  });

  it('encodes a cycle through a typed object as a reference to it', () => {
    const typed: AmfTypedObject = { kind: 'typedObject', className: 'T', properties: {} };
    typed.properties.again = typed;
    const back = decodeAmf0(encodeAmf0(typed), 0).value as AmfTypedObject;
    expect(back.className).toBe('T');
    expect(back.properties.again).toBe(back);
  });

  it('writes an ECMA array count equal to its keys', () => {
    expect(encodeAmf0(ecmaArray({ a: 1, b: 2 })).readUInt32BE(1)).toBe(2);
  });

  it('writes several values back to back', () => {
    expect(encodeAmf0Values(['a', 1, null]).toString('hex')).toBe(
      hex(`
        02 00 01 ${ascii('a')}       // "a"
        00 3f f0 00 00 00 00 00 00   // 1
        05                           // null
      `).toString('hex'),
    );
  });
});

describe('AMF0 properties', () => {
  it('decodes what it encodes, for arbitrary values', () => {
    fc.assert(
      fc.property(amfValue, (value) => {
        const bytes = encodeAmf0(value);
        const out = decodeAmf0(bytes, 0);
        expect(out.offset).toBe(bytes.length);
        expect(canon(out.value)).toEqual(canon(value));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes what it encodes, for arbitrary value lists', () => {
    fc.assert(
      fc.property(fc.array(amfValue, { maxLength: 6 }), (values) => {
        expect(canon(decodeAmf0Values(encodeAmf0Values(values)))).toEqual(canon(values));
      }),
      { numRuns: 300 },
    );
  });

  it('re-encodes decoded bytes to the same bytes', () => {
    fc.assert(
      fc.property(amfValue, (value) => {
        const bytes = encodeAmf0(value);
        expect(encodeAmf0(decodeAmf0(bytes, 0).value).equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
