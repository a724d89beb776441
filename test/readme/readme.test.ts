/**
 * Every README example runs as written: each ```ts block compiles with `tsc --strict` against
 * the packed package installed into a fresh project (as ESM and as CommonJS), and each block
 * marked `<!-- readme-test: runnable -->` runs against a real nginx-rtmp without hanging or
 * throwing. How blocks are found and marked: test/readme/readme-examples.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startNginxRtmp, stopAll, type NginxRtmp } from '../helpers';
import {
  REPO,
  compileBlocks,
  extractBlocks,
  packAndInstall,
  runBlock,
  type ModuleSetting,
  type PackedProject,
} from './readme-examples';

/** How long one runnable example may take (the model-based one walks a few hundred paths). */
const RUN_TIMEOUT_MS = 180_000;

const blocks = extractBlocks(readFileSync(path.join(REPO, 'README.md'), 'utf8'));

describe('the README examples, against the packed package', () => {
  let project: PackedProject;
  let nginx: NginxRtmp;
  const compiled = new Map<ModuleSetting, ReturnType<typeof compileBlocks>>();

  beforeAll(async () => {
    project = await packAndInstall();
    nginx = await startNginxRtmp({ mediaDir: path.join(REPO, 'test', 'fixtures', 'media') });
    for (const setting of ['esm', 'cjs'] as const) {
      compiled.set(setting, compileBlocks(project.dir, blocks, setting));
    }
  }, 900_000);

  afterAll(async () => {
    await stopAll();
    // The project's dependencies are links into the checkout: rm removes the links, not them.
    if (project) rmSync(path.dirname(project.dir), { recursive: true, force: true });
  });

  it('finds the README examples, some of them runnable', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => b.runnable).length).toBeGreaterThanOrEqual(4);
  });

  it('installs the tarball npm pack makes, with the bundled sample in it', () => {
    expect(['npm ci', 'unpacked']).toContain(project.installedWith);
    const sample = path.join(
      project.dir,
      'node_modules',
      'rtmp-actors',
      'test',
      'fixtures',
      'media',
      'small.flv',
    );
    expect(readFileSync(sample).subarray(0, 3).toString('latin1')).toBe('FLV');
  });

  it('gives every entry of exports a types condition that the tarball holds', () => {
    const installed = path.join(project.dir, 'node_modules', 'rtmp-actors');
    const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types?: string; default?: string }>;
    };
    const entries = Object.entries(pkg.exports).filter(([k]) => k !== './package.json');
    expect(entries.map(([k]) => k).sort()).toEqual(['.', './machines', './testing']);
    for (const [, target] of entries) {
      expect(typeof target).toBe('object');
      const { types, default: js } = target as { types?: string; default?: string };
      expect(existsSync(path.join(installed, types ?? 'none'))).toBe(true);
      expect(existsSync(path.join(installed, js ?? 'none'))).toBe(true);
    }
  });

  it('runs the installed command line from its esbuild bundle: `--version` and a refused `play`', () => {
    const installed = path.join(project.dir, 'node_modules', 'rtmp-actors');
    expect(existsSync(path.join(installed, 'dist', 'bundle', 'cli.js'))).toBe(true);
    expect(existsSync(path.join(installed, 'dist', 'bundle', 'play.js.map'))).toBe(true);
    const bin = path.join(installed, 'bin', 'rtmp-actors');
    // Prints, at exit, the bundle files the process loaded (after the command's own output).
    const hook = path.join(project.dir, 'list-bundle-files.js');
    writeFileSync(
      hook,
      `process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify(` +
        `Object.keys(require.cache).filter((f) => /[\\\\/]dist[\\\\/]bundle[\\\\/]/.test(f)).map((f) => require('node:path').basename(f))) + '\\n'));\n`,
    );
    const version = spawnSync(process.execPath, ['--require', hook, bin, '--version'], {
      cwd: project.dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(
      `${(JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version}\n`,
    );
    expect(version.stderr).toContain('LOADED ["cli.js"]');
    const play = spawnSync(
      process.execPath,
      ['--require', hook, bin, 'play', 'rtmp://127.0.0.1:9/x', '--retries', '0'],
      { cwd: project.dir, encoding: 'utf8', timeout: 60_000 },
    );
    expect(play.status).toBe(3);
    expect(play.stderr).toMatch(/connection refused/);
    expect(play.stderr).toContain('LOADED ["cli.js","play.js"]');

    // That run wrote the V8 code cache of play.js next to the bundle (bin/code-cache.js), and the
    // next one uses it: left as it was, with the same result.
    const cacheDir = path.join(installed, 'dist', '.code-cache');
    const entries = readdirSync(cacheDir).filter((n) => n.startsWith('play-'));
    expect(entries).toHaveLength(1);
    const written = statSync(path.join(cacheDir, entries[0])).mtimeMs;
    const again = spawnSync(
      process.execPath,
      ['--require', hook, bin, 'play', 'rtmp://127.0.0.1:9/x', '--retries', '0'],
      { cwd: project.dir, encoding: 'utf8', timeout: 60_000 },
    );
    expect(again.status).toBe(3);
    expect(again.stderr).toMatch(/connection refused/);
    expect(statSync(path.join(cacheDir, entries[0])).mtimeMs).toBe(written);
    // The one ES-module import (--inspect) is a file of its own, outside the cached scripts.
    expect(existsSync(path.join(installed, 'dist', 'bundle', 'importInspect.js'))).toBe(true);
  });

  it('points sampleFlvPath at the FLV file inside the installed package, for require and import', () => {
    const check = (code: string, args: string[] = []): string =>
      execFileSync(process.execPath, [...args, '-e', code], { cwd: project.dir, encoding: 'utf8' });
    const required = check("console.log(require('rtmp-actors').sampleFlvPath)").trim();
    const imported = check(
      "import('rtmp-actors').then((m) => console.log(m.sampleFlvPath))",
    ).trim();
    expect(imported).toBe(required);
    expect(required.startsWith(path.join(project.dir, 'node_modules', 'rtmp-actors'))).toBe(true);
    expect(readFileSync(required).subarray(0, 3).toString('latin1')).toBe('FLV');
  });

  describe.each(['esm', 'cjs'] as const)('compiled with tsc --strict as %s', (setting) => {
    it.each(blocks.map((b) => [b.index, b.line, b.heading, b] as const))(
      'compiles example %i (README line %i, under "%s")',
      (_i, _line, _heading, block) => {
        const result = compiled.get(setting)!;
        expect(result.diagnostics.get(block.index) ?? []).toEqual([]);
      },
    );
  });

  const runnable = blocks.filter((b) => b.runnable);
  it.each(runnable.map((b) => [b.index, b.line, b.heading, b] as const))(
    'runs example %i (README line %i, under "%s") to the end without an error',
    async (_i, _line, _heading, block) => {
      const esm = compiled.get('esm')!;
      expect(esm.diagnostics.get(block.index) ?? []).toEqual([]);
      const result = await runBlock(project.dir, esm.outDir, block, nginx.port, RUN_TIMEOUT_MS);
      // README_TEST_VERBOSE=1 shows what every example printed.
      if (result.code !== 0 || process.env.README_TEST_VERBOSE) {
        console.log(`example ${block.index} printed:\n${result.out.slice(-4000)}`);
      }
      expect({ timedOut: result.timedOut, code: result.code, signal: result.signal }).toEqual({
        timedOut: false,
        code: 0,
        signal: null,
      });
    },
    RUN_TIMEOUT_MS + 30_000,
  );
});
