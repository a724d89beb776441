// Bundles the command line with esbuild (issue 16, goal 4: a command starts in at most 1.6× a bare
// `node -e 0`). Run by `npm run build` after tsc:
//
//   node scripts/bundle.mjs [--external-deps] [--minify syntax|all] [--outdir DIR]
//
// Writes dist/bundle/: cli.js (the dispatcher: top-level help, --version, the command table) and one
// file per command (play.js, dump.js, ...), each holding that command's code from src/, machines/
// and the pure-JS packages it uses (XState, RxJS, prom-client, yaml), with .map source maps. cli.js
// loads a command's file only when that command runs, as src/cli/index.ts loads a command's module.
// Inside a command's file a module reached by a lazy require() (the client for `play`) runs only
// when required: esbuild wraps it, and test/cli/startup.test.ts checks with V8 coverage what ran.
// bin/rtmp-actors runs dist/bundle/cli.js when it exists and the tsc output dist/src/cli/index.js
// otherwise. The library entry points (`rtmp-actors`, `rtmp-actors/testing`) stay the tsc output.
//
// Each command file is then post-processed (scripts/unname.mjs): the `__name` wrappers of
// `keepNames` that JavaScript's own name inference makes redundant are blanked out (each made a
// closure's properties a dictionary, 2.3 MB of a 200-stream monitor's heap) and non-ASCII
// characters in comments become `?` (one made V8 hold the whole source as a two-byte string);
// lines and columns stay, so the source maps hold.
//
// Each command file of 128 KiB or more starts with a key (`/* rtmp-actors code-cache key <hex> */`,
// the start of its SHA-256): bin/code-cache.js compiles those with a V8 code cache. An import() in
// such a file would fail on Node 20, so the build fails if one holds one; the one import() (of
// @statelyai/inspect, for --inspect) is dist/bundle/importInspect.js, a file of its own.
//
// Kept external (loaded from node_modules when used): @statelyai/inspect (ES modules only, loaded by
// a real dynamic import() for --inspect), ws (optional native add-ons) and @viz-js/viz (big, `viz`
// only). The options are for measuring (bench/startup.ts; a refused `play` started in 1.65× node
// with packages bundled, 1.96× with all of them external, 1.70× and 1.85× minified):
// --external-deps keeps every package external, --minify minifies.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postprocess } from './unname.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const argAfter = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const OUT = argAfter('--outdir') ?? join(ROOT, 'dist', 'bundle');
const CLI = join(ROOT, 'src', 'cli');
const externalDeps = process.argv.includes('--external-deps');
/** `--minify syntax` (whitespace and syntax) or `--minify all` (names too, keeping .name). */
const minify = argAfter('--minify');

/** The command modules: those src/cli/index.ts loads lazily (`require('./play')`) in COMMAND_TABLE. */
const COMMANDS = [
  ...readFileSync(join(CLI, 'index.ts'), 'utf8').matchAll(/require\('\.\/(\w+)'\)/g),
].map((m) => m[1]);
if (!COMMANDS.includes('play')) throw new Error(`bundle: no commands found in src/cli/index.ts`);

/** Never bundled: ES modules only, native add-ons or optional requires, or big and rarely used. */
const ALWAYS_EXTERNAL = ['@statelyai/inspect', '@viz-js/viz', 'ws', 'bufferutil', 'utf-8-validate'];

/**
 * The first line of every file bin/code-cache.js may compile with a V8 code cache: after the build
 * the zeros become the start of the SHA-256 of the file (same length, so the source map holds).
 */
const KEY_BANNER = `/* rtmp-actors code-cache key ${'0'.repeat(16)} */`;
/**
 * A command file smaller than this gets no key (its banner becomes NO_CACHE_BANNER, padded to the
 * same length): `dump` (70 KB) started no faster from a cache than compiled afresh (bench:startup
 * style A/B, 41 rounds), as the cache's own cost (node:v8 and node:vm, reading the entry) ate the
 * saving. Every other command file is 300 KB or more.
 */
const CODE_CACHE_MIN_BYTES = 128 * 1024;
const NO_CACHE_BANNER = '/* rtmp-actors: no code cache (small file)';

/**
 * src/trace/importInspect.ts holds the one `import()` (of the ES-module-only @statelyai/inspect):
 * it stays a file of its own, dist/bundle/importInspect.js, without the key banner, so Node's
 * loader compiles it (an `import()` in a code-cached script has no callback on Node 20).
 */
const IMPORT_INSPECT = join(ROOT, 'src', 'trace', 'importInspect.ts');
const importInspectAsFile = {
  name: 'import-inspect-as-file',
  setup(b) {
    b.onResolve({ filter: /^\.\/importInspect$/ }, (args) =>
      args.importer === join(ROOT, 'src', 'trace', 'inspector.ts')
        ? { path: './importInspect.js', external: true }
        : undefined,
    );
  },
};

/** In cli.js, `require('./play')` (from src/cli/index.ts) loads the bundle ./play.js. */
const commandsAsFiles = {
  name: 'commands-as-files',
  setup(b) {
    const filter = new RegExp(`^\\./(${COMMANDS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.importer === join(CLI, 'index.ts')
        ? { path: `${args.path}.js`, external: true }
        : undefined,
    );
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: true,
  sourcesContent: false,
  legalComments: 'none',
  // Scope hoisting renames clashing names (XState's `and` becomes `and2`), and the diagrams and
  // traces print functions' .name: keep them.
  keepNames: true,
  ...(minify === 'all' ? { minify: true } : {}),
  ...(minify === 'syntax' ? { minifyWhitespace: true, minifySyntax: true } : {}),
  logLevel: 'warning',
  ...(externalDeps ? { packages: 'external' } : { external: ALWAYS_EXTERNAL }),
};

/**
 * Stamps each output with its content key and fails when one holds a dynamic `import()` (which a
 * code-cached script could not run; see IMPORT_INSPECT).
 */
function stamp(metafile) {
  for (const [out, meta] of Object.entries(metafile.outputs)) {
    if (!out.endsWith('.js')) continue;
    const dynamic = meta.imports.filter((i) => i.kind === 'dynamic-import');
    if (dynamic.length > 0) {
      throw new Error(
        `bundle: ${out} holds import(${dynamic.map((i) => i.path).join(', ')}): keep it in a ` +
          `file of its own as src/trace/importInspect.ts does`,
      );
    }
    const file = join(ROOT, out);
    // Without the __name wrappers JavaScript's own name inference makes redundant (scripts/unname.mjs).
    // and with ASCII comments (a one-byte source string in V8: half the memory).
    const { text } = postprocess(readFileSync(file, 'utf8'), out);
    if (!text.startsWith(KEY_BANNER)) throw new Error(`bundle: ${out} lacks the key banner`);
    const key = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const banner =
      meta.bytes >= CODE_CACHE_MIN_BYTES
        ? KEY_BANNER.replace('0'.repeat(16), key)
        : NO_CACHE_BANNER.padEnd(KEY_BANNER.length - 3) + ' */';
    writeFileSync(file, banner + text.slice(KEY_BANNER.length));
  }
}

rmSync(OUT, { recursive: true, force: true });
const stamped = { ...common, banner: { js: KEY_BANNER }, metafile: true, absWorkingDir: ROOT };
// cli.js (10 KB, all that top-level --help and --version load) compiles faster than a cache reads.
await build({
  ...common,
  entryPoints: { cli: join(CLI, 'index.ts') },
  outdir: OUT,
  plugins: [commandsAsFiles],
});
stamp(
  (
    await build({
      ...stamped,
      entryPoints: Object.fromEntries(COMMANDS.map((n) => [n, join(CLI, `${n}.ts`)])),
      outdir: OUT,
      plugins: [importInspectAsFile],
    })
  ).metafile,
);
await build({
  ...common,
  entryPoints: { [basename(IMPORT_INSPECT, '.ts')]: IMPORT_INSPECT },
  outdir: OUT,
});
