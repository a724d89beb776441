/**
 * scripts/unname.mjs, run by scripts/bundle.mjs on every command bundle (issue 16, memory per
 * stream): esbuild's `__name` wrappers that JavaScript's own name inference makes redundant go
 * (each turned a closure's properties into a dictionary), the others stay; non-ASCII characters
 * in comments become `?` (one in a file makes V8 hold its whole source as a two-byte string);
 * every line and column stays where it was, so the source maps hold. The script is an ES module,
 * so it runs in a child node process here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'unname.mjs');
const BUNDLE_DIR = path.join(ROOT, 'dist', 'bundle');

interface Result {
  text: string;
  removed: number;
  replaced: number;
  left: number;
}

function postprocess(text: string): Result {
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { postprocess } from ${JSON.stringify(SCRIPT)};
       let input = '';
       process.stdin.on('data', (d) => (input += d));
       process.stdin.on('end', () => process.stdout.write(JSON.stringify(postprocess(input))));`,
    ],
    { input: text, encoding: 'utf8' },
  );
  return JSON.parse(out) as Result;
}

/** Runs bundle-like code with a `__name` that records what it was asked to name. */
function run(code: string): { names: Record<string, string>; named: string[] } {
  const named: string[] = [];
  const __name = (target: object, value: string): object => {
    named.push(value);
    return Object.defineProperty(target, 'name', { value, configurable: true });
  };
  const names = new Function('__name', `${code}\nreturn names;`)(__name) as Record<string, string>;
  return { names, named };
}

const SAMPLE = [
  'function outer() {',
  '  const onRead = /* @__PURE__ */ __name((bytes) => bytes.length, "onRead");',
  '  const onData = /* @__PURE__ */ __name(function (x) {',
  '    return x;',
  '  }, "onData");',
  '  const obj = { flush: /* @__PURE__ */ __name(() => 1, "flush") };',
  '  class Sink {',
  '    flushNow = /* @__PURE__ */ __name(() => 2, "flushNow");',
  '  }',
  '  // renamed by scope hoisting: the wrapper is what keeps the name',
  '  const and2 = /* @__PURE__ */ __name(() => 3, "and");',
  '  function assign2() {}',
  '  __name(assign2, "assign");',
  '  const passed = [/* @__PURE__ */ __name(() => 4, "passed")][0];',
  '  return { onRead, onData, flush: obj.flush, flushNow: new Sink().flushNow, and2, assign2, passed };',
  '}',
  '// an actor\u2019s snapshot, \u00b1Infinity',
  'const fns = outer();',
  'const names = Object.fromEntries(Object.entries(fns).map(([k, f]) => [k, f.name]));',
  'names.sign = "\u00b1";',
].join('\n');

describe('the bundle post-processing (scripts/unname.mjs)', () => {
  it('drops the __name wrappers JavaScript names by itself and keeps every function name', () => {
    const before = run(SAMPLE);
    const result = postprocess(SAMPLE);
    const after = run(result.text);

    expect(after.names).toEqual(before.names);
    expect(after.names).toMatchObject({
      onRead: 'onRead',
      onData: 'onData',
      flush: 'flush',
      flushNow: 'flushNow',
      and2: 'and',
      assign2: 'assign',
      passed: 'passed',
    });
    // Only the renamed ones, and the one whose name no assignment would give, are still named.
    expect(before.named.sort()).toEqual(
      ['onRead', 'onData', 'flush', 'flushNow', 'and', 'assign', 'passed'].sort(),
    );
    expect(after.named.sort()).toEqual(['and', 'assign', 'passed']);
    expect(result.removed).toBe(4);
  });

  it('replaces non-ASCII characters in comments only, and moves no line or column', () => {
    const result = postprocess(SAMPLE);

    expect(result.text).toContain('// an actor?s snapshot, ?Infinity');
    expect(result.text).toContain('names.sign = "\u00b1";');
    expect(result.replaced).toBe(2);
    expect(result.left).toBe(1);
    const lines = result.text.split('\n');
    const original = SAMPLE.split('\n');
    expect(lines.map((l) => l.length)).toEqual(original.map((l) => l.length));
    // Where code is left, it is where it was.
    expect(lines[1].indexOf('(bytes) =>')).toBe(original[1].indexOf('(bytes) =>'));
  });

  (existsSync(path.join(BUNDLE_DIR, 'cli.js')) ? it : it.skip)(
    'leaves the built command bundles all ASCII',
    () => {
      const files = readdirSync(BUNDLE_DIR).filter((f) => f.endsWith('.js'));
      const nonAscii = files.filter((f) =>
        readFileSync(path.join(BUNDLE_DIR, f)).some((byte) => byte > 0x7f),
      );

      expect(files.length).toBeGreaterThan(5);
      expect(nonAscii).toEqual([]);
    },
  );
});
