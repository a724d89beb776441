/** How the README test finds its examples: fences, markers, imports, the CommonJS wrapping. */
import { asCommonJs, extractBlocks, pointAt, splitImports } from './readme-examples';

const fence = '```';

describe('extractBlocks', () => {
  it('finds every ts block, with its line, heading and runnable marker, and skips other languages', () => {
    const md = [
      '# Title',
      '## Library',
      '<!-- readme-test: runnable -->',
      `${fence}ts`,
      "import { createSession } from 'rtmp-actors';",
      `${fence}`,
      `${fence}sh`,
      'npm test',
      `${fence}`,
      '- a list item:',
      `  ${fence}ts`,
      '  const x = 1;',
      `  ${fence}`,
    ].join('\n');
    const blocks = extractBlocks(md);
    expect(blocks).toEqual([
      {
        index: 1,
        line: 4,
        code: "import { createSession } from 'rtmp-actors';",
        runnable: true,
        heading: 'Library',
      },
      { index: 2, line: 11, code: 'const x = 1;', runnable: false, heading: 'Library' },
    ]);
  });

  it('refuses a marker it does not know, so that a typo cannot turn a test off', () => {
    const md = ['<!-- readme-test: runable -->', `${fence}ts`, 'const x = 1;', fence].join('\n');
    expect(() => extractBlocks(md)).toThrow(/unknown marker "runable"/);
  });

  it('ignores a marker separated from the block by text', () => {
    const md = ['<!-- readme-test: runnable -->', 'Some text.', `${fence}ts`, 'x;', fence].join(
      '\n',
    );
    expect(extractBlocks(md)[0].runnable).toBe(false);
  });
});

describe('the CommonJS form of a block', () => {
  const code = [
    "import assert from 'node:assert/strict';",
    'import {',
    '  createSession,',
    '  sampleFlvPath,',
    "} from 'rtmp-actors';",
    '',
    'const session = createSession({ url: "rtmp://127.0.0.1/live" });',
    'await session.close();',
  ].join('\n');

  it('keeps the imports, multi-line ones included, at the top', () => {
    const { imports, body } = splitImports(code);
    expect(imports).toContain("} from 'rtmp-actors';");
    expect(body.startsWith('const session')).toBe(true);
  });

  it('puts the rest, top-level await included, in an async function that runs', () => {
    const cjs = asCommonJs(code);
    expect(cjs).toMatch(/async function main\(\): Promise<void> \{\nconst session/);
    expect(cjs.trim().endsWith('void main();')).toBe(true);
  });
});

describe('pointAt', () => {
  it('points rtmp://127.0.0.1/ without a port at the harness, and leaves URLs with a port alone', () => {
    const js =
      "a('rtmp://127.0.0.1/vod'); b('rtmp://127.0.0.1:1/live'); c(`rtmp://127.0.0.1:${p}/x`)";
    expect(pointAt(js, 4242)).toBe(
      "a('rtmp://127.0.0.1:4242/vod'); b('rtmp://127.0.0.1:1/live'); c(`rtmp://127.0.0.1:${p}/x`)",
    );
  });
});
