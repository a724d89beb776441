/**
 * The V8 code cache of the bundled command line (bin/code-cache.js, issue 16 goal 4): made by a
 * start that found none, used (and left alone) by the next, made again when V8 rejects it or it
 * is for another file, never taken from a directory others may write, off with
 * RTMP_ACTORS_CODE_CACHE=0, and never the reason a command fails. Every run points
 * RTMP_ACTORS_CODE_CACHE (or XDG_CACHE_HOME) at a directory of its own. Whether the cache makes a
 * start faster is measured by `npm run bench:startup`, not here. `serve --inspect` on a warm cache
 * (the ES-module import the cache must not break) is in test/trace/inspector.test.ts.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'rtmp-actors');
const BUNDLE_DIR = path.join(ROOT, 'dist', 'bundle');
/** Where nothing listens: a connect there is refused at once. */
const REFUSED_URL = 'rtmp://127.0.0.1:9/x';
const REFUSED = ['play', REFUSED_URL, '--retries', '0'];

const work = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-code-cache-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let seq = 0;
/** A fresh directory under the test's work directory. */
function freshDir(): string {
  const dir = path.join(work, `cache-${++seq}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The entries in `dir` for one bundle file (`play`, `dump`...), by name. */
function entries(dir: string, command: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith(`${command}-`) && n.endsWith('.v8cache'));
}

/** What changes when an entry is written again (a rename puts a new file in place). */
function identity(file: string): string {
  const st = statSync(file);
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

function expectRefused(r: Run): void {
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(/connection refused/);
  expect(r.stderr).not.toMatch(/code.cache|v8cache|Warning/i);
}

describe('the code cache of the bundled command line', () => {
  jest.setTimeout(120_000);

  beforeAll(() => {
    if (!existsSync(path.join(BUNDLE_DIR, 'cli.js'))) {
      throw new Error('no bundle: run `npm run build` first');
    }
  });

  it('is written by a start that found none and used, unchanged, by the next start', async () => {
    const dir = freshDir();
    const env = { RTMP_ACTORS_CODE_CACHE: dir };
    expectRefused(await run(REFUSED, env));
    const [play] = entries(dir, 'play');
    expect(entries(dir, 'play')).toHaveLength(1);
    // cli.js (the dispatcher, 10 KB) compiles faster than a cache reads: it carries no key.
    expect(entries(dir, 'cli')).toEqual([]);
    // The bundle file's key, the Node version and the architecture name the entry; no path does.
    const key = /^\/\* rtmp-actors code-cache key ([0-9a-f]{16}) \*\//.exec(
      readFileSync(path.join(BUNDLE_DIR, 'play.js'), 'utf8'),
    )?.[1];
    expect(key).toBeDefined();
    expect(play).toBe(`play-${key}-${process.version}-${process.arch}-${play.split('-').pop()}`);
    expect(play).toMatch(/-[0-9a-f]{8}\.v8cache$/);
    expect((statSync(path.join(dir, play)).mode & 0o022) === 0).toBe(true);

    const before = identity(path.join(dir, play));
    expectRefused(await run(REFUSED, env));
    // Written again only when missing or rejected by V8: left alone, it was used.
    expect(identity(path.join(dir, play))).toBe(before);
    expect(entries(dir, 'play')).toEqual([play]);
  });

  it("keeps no copy of a stamped file's source alive while it waits to write the entry at exit", async () => {
    // A start without an entry (a fresh container: every start of a monitor) makes one at exit,
    // hours later for a monitor. Until then V8 holds the wrapped source it compiles lazily from;
    // the source as read (1.1 MB for monitor.js) must not stay alive beside it.
    const bundleDir = path.join(freshDir(), 'bundle');
    mkdirSync(bundleDir);
    const banner = '/* rtmp-actors code-cache key 0123456789abcdef */';
    const padding = `/*${'x'.repeat(1_200_000)}*/`;
    writeFileSync(
      path.join(bundleDir, 'big.js'),
      `${banner}\n'use strict';\n${padding}\nexports.answer = () => 42;\n`,
    );
    const snapshot = path.join(work, `source-${seq}.heapsnapshot`);
    const script = [
      `const cache = require(${JSON.stringify(path.join(ROOT, 'bin', 'code-cache.js'))});`,
      `cache.install(${JSON.stringify(bundleDir)}, { env: { RTMP_ACTORS_CODE_CACHE: ${JSON.stringify(freshDir())} } });`,
      `if (require(${JSON.stringify(path.join(bundleDir, 'big.js'))}).answer() !== 42) process.exit(1);`,
      `require('node:v8').writeHeapSnapshot(${JSON.stringify(snapshot)});`,
    ].join('\n');
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { timeout: 60_000 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    const heap = JSON.parse(readFileSync(snapshot, 'utf8')) as {
      snapshot: { meta: { node_fields: string[] } };
      nodes: number[];
      strings: string[];
    };
    rmSync(snapshot);
    const fields = heap.snapshot.meta.node_fields;
    const nameAt = fields.indexOf('name');
    const sizeAt = fields.indexOf('self_size');
    // A string's node is named by (the start of) its text, and sized by all of it.
    const big: string[] = [];
    for (let i = 0; i < heap.nodes.length; i += fields.length) {
      if (heap.nodes[i + sizeAt] > 1_000_000)
        big.push(heap.strings[heap.nodes[i + nameAt]].slice(0, 40));
    }
    // The wrapped source V8 compiles from, and nothing else of that size.
    expect(big).toHaveLength(1);
    expect(big[0]).toMatch(/^\(function \(exports, require, module/);
  });

  it('makes a rejected (corrupt) or truncated entry again, and the command runs as without one', async () => {
    const dir = freshDir();
    const env = { RTMP_ACTORS_CODE_CACHE: dir };
    expectRefused(await run(REFUSED, env));
    const [play] = entries(dir, 'play');
    const file = path.join(dir, play);
    const good = readFileSync(file);

    // The header is intact, the second half of V8's data is garbage: V8 rejects it (its checksum),
    // where without --verify-snapshot-checksum it would crash.
    const corrupt = Buffer.from(good);
    corrupt.fill(0x5a, corrupt.length >> 1);
    writeFileSync(file, corrupt);
    const corruptId = identity(file);
    expectRefused(await run(REFUSED, env));
    expect(identity(file)).not.toBe(corruptId);

    // Cut short (a write that never finished): not used, made again.
    writeFileSync(file, good.subarray(0, good.length >> 1));
    expectRefused(await run(REFUSED, env));
    expect(statSync(file).size).toBeGreaterThan(good.length >> 1);

    // Garbage from the start.
    writeFileSync(file, 'not a code cache');
    expectRefused(await run(REFUSED, env));
    expect(readFileSync(file).subarray(0, 18).toString('latin1')).toBe('RTMPACTORS-V8CACHE');
  });

  it('does not use an entry made for another version of the bundle file (its size in the header)', async () => {
    const dir = freshDir();
    const env = { RTMP_ACTORS_CODE_CACHE: dir };
    expectRefused(await run(REFUSED, env));
    const [play] = entries(dir, 'play');
    const file = path.join(dir, play);
    const text = readFileSync(file);
    const headerStart = 'RTMPACTORS-V8CACHE'.length + 4;
    const headerLength = text.readUInt32LE('RTMPACTORS-V8CACHE'.length);
    const header = JSON.parse(text.toString('utf8', headerStart, headerStart + headerLength)) as {
      size: number;
    };
    // Same length of header, another size: as if the bundle file had been edited in place.
    const other = Buffer.from(
      text
        .toString('latin1')
        .replace(
          `"size":${header.size}`,
          `"size":${header.size + 1}`.slice(0, `"size":${header.size}`.length),
        ),
      'latin1',
    );
    expect(other.equals(text)).toBe(false);
    writeFileSync(file, other);
    const otherId = identity(file);
    expectRefused(await run(REFUSED, env));
    expect(identity(file)).not.toBe(otherId);
  });

  it('replaces an entry made by `--help` or a usage error with one made by a run of the command, and not the other way', async () => {
    for (const partialArgs of [
      ['play', '--help'],
      ['play', '--no-such-option'],
    ]) {
      const dir = freshDir();
      const env = { RTMP_ACTORS_CODE_CACHE: dir };
      const partialRun = await run(partialArgs, env);
      expect(partialRun.code).toBe(partialArgs[1] === '--help' ? 0 : 2);
      const [play] = entries(dir, 'play');
      const partial = identity(path.join(dir, play));
      // Another partial run keeps it.
      expect((await run(partialArgs, env)).code).toBe(partialRun.code);
      expect(identity(path.join(dir, play))).toBe(partial);
      expectRefused(await run(REFUSED, env));
      const full = identity(path.join(dir, play));
      expect(full).not.toBe(partial);
      expectRefused(await run(REFUSED, env));
      expect((await run(partialArgs, env)).code).toBe(partialRun.code);
      expect(identity(path.join(dir, play))).toBe(full);
    }
  });

  it('is off with RTMP_ACTORS_CODE_CACHE=0: nothing is written anywhere it would go', async () => {
    const xdg = freshDir();
    expectRefused(await run(REFUSED, { RTMP_ACTORS_CODE_CACHE: '0', XDG_CACHE_HOME: xdg }));
    expect(readdirSync(xdg)).toEqual([]);
  });

  it('never uses a directory others may write, and the command runs without a cache', async () => {
    const dir = freshDir();
    chmodSync(dir, 0o777);
    expectRefused(await run(REFUSED, { RTMP_ACTORS_CODE_CACHE: dir }));
    expect(readdirSync(dir)).toEqual([]);
    // A planted entry there is not read either: the command still runs (and writes nothing).
    writeFileSync(path.join(dir, 'play-0000000000000000-v0-x-00000000.v8cache'), 'planted');
    expectRefused(await run(REFUSED, { RTMP_ACTORS_CODE_CACHE: dir }));
    expect(readdirSync(dir)).toEqual(['play-0000000000000000-v0-x-00000000.v8cache']);
  });

  it('runs commands whose cache directory cannot be made (a file stands where it would go)', async () => {
    const file = path.join(work, `not-a-directory-${++seq}`);
    writeFileSync(file, '');
    expectRefused(await run(REFUSED, { RTMP_ACTORS_CODE_CACHE: path.join(file, 'cache') }));
  });

  it('goes next to the bundle, else to $XDG_CACHE_HOME/rtmp-actors, else ~/.cache/rtmp-actors', () => {
    const { findDir } = require('../../bin/code-cache.js') as {
      findDir(bundleDir: string, env: NodeJS.ProcessEnv): string | undefined;
    };
    const base = freshDir();
    const bundleDir = path.join(base, 'dist', 'bundle');
    mkdirSync(bundleDir, { recursive: true });
    const xdg = path.join(base, 'xdg');
    const home = path.join(base, 'home');
    const env = { XDG_CACHE_HOME: xdg, HOME: home };
    expect(findDir(bundleDir, env)).toBe(path.join(base, 'dist', '.code-cache'));
    // Next to the bundle, but others may write there: not used.
    chmodSync(path.join(base, 'dist', '.code-cache'), 0o777);
    expect(findDir(bundleDir, env)).toBe(path.join(xdg, 'rtmp-actors'));
    // No directory can be made next to a bundle whose parent is a file (as one that is not ours).
    const file = path.join(base, 'file');
    writeFileSync(file, '');
    expect(findDir(path.join(file, 'bundle'), env)).toBe(path.join(xdg, 'rtmp-actors'));
    expect(findDir(path.join(file, 'bundle'), { HOME: home })).toBe(
      path.join(home, '.cache', 'rtmp-actors'),
    );
    // A relative XDG_CACHE_HOME is ignored, as the XDG base directory specification says.
    expect(findDir(path.join(file, 'bundle'), { XDG_CACHE_HOME: 'rel', HOME: home })).toBe(
      path.join(home, '.cache', 'rtmp-actors'),
    );
    // Nowhere usable: no cache.
    expect(findDir(path.join(file, 'bundle'), { XDG_CACHE_HOME: file, HOME: file })).toBe(
      undefined,
    );
    // RTMP_ACTORS_CODE_CACHE names the directory.
    expect(findDir(bundleDir, { ...env, RTMP_ACTORS_CODE_CACHE: path.join(base, 'mine') })).toBe(
      path.join(base, 'mine'),
    );
  });

  it('no bundle file that carries a code-cache key holds a dynamic import(); the one import() is in importInspect.js', () => {
    const withImport: string[] = [];
    const keyed: string[] = [];
    for (const f of readdirSync(BUNDLE_DIR).filter((n) => n.endsWith('.js'))) {
      const text = readFileSync(path.join(BUNDLE_DIR, f), 'utf8');
      if (/\bimport\(/.test(text)) withImport.push(f);
      if (text.startsWith('/* rtmp-actors code-cache key ')) keyed.push(f);
    }
    expect(withImport).toEqual(['importInspect.js']);
    // The big command files are keyed (dump.js and cli.js are too small to gain from a cache).
    expect(keyed).toEqual(expect.arrayContaining(['play.js', 'serve.js', 'monitor.js']));
    expect(keyed).not.toContain('dump.js');
  });
});
