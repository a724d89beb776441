/**
 * Every README example runs as written: each ```ts block compiles with `tsc --strict` against
 * the packed package installed into a fresh project (as ESM and as CommonJS), and each block
 * marked `<!-- readme-test: runnable -->` runs against a real nginx-rtmp without hanging or
 * throwing. How blocks are found and marked: test/readme/readme-examples.ts.
 */
import { readFileSync } from 'node:fs';
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
