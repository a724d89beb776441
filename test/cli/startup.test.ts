/**
 * What a command loads at start (issue 16, goal 4): `--help`, `dump` and `play --help` must load no
 * XState, RxJS or prom-client (nor ws, yaml, @viz-js/viz, @statelyai/inspect) they do not use. The
 * built CLI runs in a child process with a `--require` hook that lists, at exit, every module in
 * `require.cache` and every Node built-in loaded. Nothing here is timed: `npm run bench:startup`
 * measures the start.
 *
 * The CLI runs from the esbuild bundle (dist/bundle/, scripts/bundle.mjs) when it is built, and from
 * the tsc output otherwise (or with RTMP_ACTORS_NO_BUNDLE=1): every check runs against both. In a
 * bundle a package is no file of its own: each of its modules is a `// node_modules/...` section of
 * a command's file, and one reached by a lazy require() is wrapped in a function named after its
 * path that runs when first required. So the child also runs with NODE_V8_COVERAGE, and a bundled
 * module counts as loaded when its file was loaded and either it is not wrapped or its wrapper ran.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { COMMAND_TABLE } from '../../src/cli/index';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'rtmp-actors');
const BUNDLE_DIR = path.join(ROOT, 'dist', 'bundle');
const BUNDLED = existsSync(path.join(BUNDLE_DIR, 'cli.js'));
const CAPTURE = path.join(ROOT, 'test', 'fixtures', 'sessions', 'rtmpdump-nginx-play.s2c.bin');
/** Where nothing listens: a connect there is refused at once. */
const REFUSED_URL = 'rtmp://127.0.0.1:9/x';

const HEAVY = [
  'xstate',
  'rxjs',
  'prom-client',
  'ws',
  'yaml',
  '@viz-js/viz',
  '@statelyai/inspect',
] as const;
type Heavy = (typeof HEAVY)[number];

const work = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-startup-'));
const HOOK = path.join(work, 'record-modules.js');
writeFileSync(
  HOOK,
  `'use strict';
const fs = require('node:fs');
process.on('exit', () => {
  fs.writeFileSync(process.env.STARTUP_TEST_OUT, JSON.stringify({
    files: Object.keys(require.cache),
    builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
  }));
});
`,
);
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  files: string[];
  builtins: string[];
  /** The heavy packages among the loaded files. */
  heavy: Set<Heavy>;
}

/** V8 coverage (NODE_V8_COVERAGE) of one run, as much of it as these checks read. */
interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
}

/**
 * The heavy packages with a module that ran from a loaded bundle file: a module (a
 * `// node_modules/<package>/...` section) runs with its file unless esbuild wrapped it in a function
 * named after its path, which then must have run.
 */
function heavyInBundles(files: string[], coverageDir: string): Set<Heavy> {
  const ran = new Map<string, boolean>();
  for (const f of readdirSync(coverageDir)) {
    const cov = JSON.parse(readFileSync(path.join(coverageDir, f), 'utf8')) as Coverage;
    for (const script of cov.result) {
      for (const fn of script.functions) {
        if (fn.functionName.startsWith('node_modules/')) {
          ran.set(fn.functionName, (ran.get(fn.functionName) ?? false) || fn.ranges[0].count > 0);
        }
      }
    }
  }
  const heavy = new Set<Heavy>();
  for (const file of files.filter((f) => f.startsWith(BUNDLE_DIR + path.sep))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/^\/\/ (node_modules\/\S+)$/gm)) {
      const module = m[1];
      const h = HEAVY.find((name) => module.startsWith(`node_modules/${name}/`));
      if (h && (ran.get(module) ?? true)) heavy.add(h);
    }
  }
  return heavy;
}

let seq = 0;
function runWith(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const out = path.join(work, `modules-${++seq}.json`);
  const coverageDir = path.join(work, `coverage-${seq}`);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', HOOK, BIN, ...args],
      {
        env: {
          ...process.env,
          ...env,
          STARTUP_TEST_OUT: out,
          NODE_V8_COVERAGE: coverageDir,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        try {
          const { files, builtins } = JSON.parse(readFileSync(out, 'utf8')) as {
            files: string[];
            builtins: string[];
          };
          const heavy = heavyInBundles(files, coverageDir);
          for (const f of files) {
            for (const h of HEAVY) {
              if (f.includes(`${path.sep}node_modules${path.sep}${h}${path.sep}`)) heavy.add(h);
            }
          }
          resolve({ code, stdout, stderr, files, builtins, heavy });
        } catch (e) {
          reject(new Error(`exit ${code}, no module list (${String(e)}): ${stderr}`));
        }
      },
    );
  });
}

const BUILDS = [
  ...(BUNDLED ? [{ build: 'the bundle', entry: path.join(BUNDLE_DIR, 'cli.js'), env: {} }] : []),
  {
    build: 'the tsc output',
    entry: path.join(ROOT, 'dist', 'src', 'cli', 'index.js'),
    env: { RTMP_ACTORS_NO_BUNDLE: '1' },
  },
];

describe.each(BUILDS)('what the command line loads at start, from $build', ({ entry, env }) => {
  jest.setTimeout(120_000);
  const run = (args: string[]): Promise<Run> => runWith(args, env);

  it('runs this build', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.files).toContain(entry);
  });

  it('`--help` lists every command and loads no command module, nor any heavy package', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(COMMAND_TABLE)) expect(r.stdout).toContain(`  ${name} `);
    expect([...r.heavy]).toEqual([]);
    const commandFiles = r.files.filter((f) =>
      /[/\\]dist[/\\](src[/\\]cli|bundle)[/\\](play|publish|monitor|serve|demo|trace|viz|dump)\.js$/.test(
        f,
      ),
    );
    expect(commandFiles).toEqual([]);
  });

  it('`--version` prints the package version and loads no heavy package', async () => {
    const r = await run(['--version']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect([...r.heavy]).toEqual([]);
  });

  it('`dump --help` and `dump FILE` load no XState, RxJS, prom-client or other heavy package', async () => {
    const help = await run(['dump', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: rtmp-actors dump');
    expect([...help.heavy]).toEqual([]);

    const dump = await run(['dump', CAPTURE]);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toContain('"handshake":"S0+S1+S2"');
    expect([...dump.heavy]).toEqual([]);
  });

  it('`play --help` loads no client: no XState, RxJS, prom-client, ws or node:tls', async () => {
    const r = await run(['play', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: rtmp-actors play');
    // The defaults the help shows come from the light module the client uses too.
    expect(r.stdout).toContain('default 36000000 for recorded, 3000 with --live');
    expect([...r.heavy]).toEqual([]);
    expect(r.builtins).not.toContain('tls');
  });

  it('a refused `play` fails at once, having loaded XState and RxJS but not prom-client, ws, tls or crypto', async () => {
    const r = await run(['play', REFUSED_URL, '--retries', '0']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/connection refused/);
    // The hook sees what a play loads: the check above is not vacuous.
    expect(r.heavy).toEqual(new Set(['xstate', 'rxjs']));
    expect(r.builtins).not.toContain('tls');
    expect(r.builtins).not.toContain('crypto');
  });

  it('a usage error of `play` loads no client either', async () => {
    const r = await run(['play', '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option --no-such-option');
    expect([...r.heavy]).toEqual([]);
  });

  it('the top-level help gives each command the summary of its own --help', () => {
    for (const [name, entry] of Object.entries(COMMAND_TABLE)) {
      const command = entry.load();
      expect(command.spec.name).toBe(name);
      expect(entry.summary).toBe(command.spec.summary);
    }
  });
});
