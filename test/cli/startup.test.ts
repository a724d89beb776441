/**
 * What a command loads at start (issue 16, goal 4): `--help`, `dump` and `play --help` must load no
 * XState, RxJS or prom-client (nor ws, yaml, @viz-js/viz, @statelyai/inspect) they do not use. The
 * built CLI runs in a child process with a `--require` hook that lists, at exit, every module in
 * `require.cache` and every Node built-in loaded. Nothing here is timed: `npm run bench:startup`
 * measures the start.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { COMMAND_TABLE } from '../../src/cli/index';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'rtmp-actors');
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

let seq = 0;
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out = path.join(work, `modules-${++seq}.json`);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', HOOK, BIN, ...args],
      {
        env: {
          ...process.env,
          ...env,
          STARTUP_TEST_OUT: out,
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
          const heavy = new Set<Heavy>();
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

describe('what the command line loads at start', () => {
  jest.setTimeout(120_000);

  it('`--help` lists every command and loads no command module, nor any heavy package', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(COMMAND_TABLE)) expect(r.stdout).toContain(`  ${name} `);
    expect([...r.heavy]).toEqual([]);
    const commandFiles = r.files.filter((f) =>
      /[/\\]dist[/\\]src[/\\]cli[/\\](play|publish|monitor|serve|demo|trace|viz|dump)\.js$/.test(f),
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
