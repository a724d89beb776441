/**
 * Golden byte tables: `hex` turns a template of hex pairs with `// field` comments into a Buffer.
 */
export function hex(table: string): Buffer {
  const digits = table
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex table: ${digits}`);
  return Buffer.from(digits, 'hex');
}

/** The ASCII bytes of `s` as hex (for readable tables: `${ascii('app')}`). */
export function ascii(s: string): string {
  return Buffer.from(s, 'latin1').toString('hex');
}

/** Runs `fn`, returning what it threw (fails the test when it returns normally). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}
