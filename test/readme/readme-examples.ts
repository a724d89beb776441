/**
 * The README's examples as tests: every fenced `ts` block is extracted, compiled with `tsc
 * --strict` against the package as `npm pack` packs it (installed into a fresh project outside
 * the checkout), once as an ES module (`module: nodenext`) and once as CommonJS (`module:
 * node16`), and the blocks marked runnable are run.
 *
 * Markers, in an HTML comment on the lines just before a block's fence:
 * - `<!-- readme-test: runnable -->`: run it (as ESM, with node) against the test's real peers.
 *   `rtmp://127.0.0.1/...` (no port) in the block means the harness's nginx-rtmp; a URL with a
 *   port is left alone. It runs in a fresh folder (files it writes land there), with a timeout.
 * - no marker: compiled only.
 * A block must stand alone (its own imports). Top-level `await` needs ESM: the CommonJS compile
 * wraps everything after the imports in an async function, as a CommonJS user would.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');

export interface ReadmeBlock {
  /** 1-based, in the order of the README. */
  index: number;
  /** The README line of the opening fence. */
  line: number;
  code: string;
  runnable: boolean;
  /** The nearest heading above it. */
  heading: string;
}

const MARKER = /<!--\s*readme-test:\s*([a-z-]+)\s*-->/;

/** Every ```ts block of a Markdown text, with its markers. */
export function extractBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '');
    const fence = /^(\s*)```(\w+)?\s*$/.exec(line);
    if (!fence) continue;
    const indent = fence[1];
    const lang = fence[2];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^\\s*\`\`\`\\s*$`).test(lines[j]); j++) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    if (lang === 'ts' || lang === 'typescript') {
      const markers: string[] = [];
      for (let k = i - 1; k >= 0 && k >= i - 3; k--) {
        const m = MARKER.exec(lines[k]);
        if (m) markers.push(m[1]);
        else if (lines[k].trim() !== '') break;
      }
      for (const m of markers) {
        if (m !== 'runnable') throw new Error(`README line ${i + 1}: unknown marker "${m}"`);
      }
      blocks.push({
        index: blocks.length + 1,
        line: i + 1,
        code: body.join('\n'),
        runnable: markers.includes('runnable'),
        heading,
      });
    }
    i = j;
  }
  return blocks;
}

/** Splits a block into its leading import statements and the rest. */
export function splitImports(code: string): { imports: string; body: string } {
  const lines = code.split('\n');
  const imports: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '' || line.trim().startsWith('//')) {
      imports.push(line);
      i++;
      continue;
    }
    if (!/^import\b/.test(line)) break;
    // An import runs until the line with its module specifier.
    while (i < lines.length) {
      imports.push(lines[i]);
      if (/from\s+['"][^'"]+['"];?\s*$|^import\s+['"][^'"]+['"];?\s*$/.test(lines[i])) {
        i++;
        break;
      }
      i++;
    }
  }
  return { imports: imports.join('\n'), body: lines.slice(i).join('\n') };
}

/** The block as a CommonJS user writes it: top-level await inside an async function. */
export function asCommonJs(code: string): string {
  const { imports, body } = splitImports(code);
  return `${imports}\n\nasync function main(): Promise<void> {\n${body}\n}\nvoid main();\n`;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<{ code: number | null; signal: string | null; out: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, timedOut });
    });
  });
}

/** A fresh project with the packed package installed, outside the checkout. */
export interface PackedProject {
  dir: string;
  /** How the package got there: `npm ci --offline`, or the tarball unpacked with its dependencies linked. */
  installedWith: 'npm ci' | 'unpacked';
  tarball: string;
}

/** The runtime dependencies of the package (and theirs), as the checkout's lock file lists them. */
function runtimeLockEntries(): Record<string, Record<string, unknown>> {
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Record<string, unknown>>;
  };
  const out: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(lock.packages)) {
    if (k && k.startsWith('node_modules/') && !v.dev && !v.devOptional) out[k] = v;
  }
  return out;
}

/**
 * `npm pack` (the `files` of package.json, dist/ as built), then installs the tarball into a
 * fresh project: `npm ci --offline` with a lock file made of the package's own dependencies
 * (works wherever `npm ci` filled the cache), or else the tarball unpacked into node_modules
 * with each runtime dependency linked from the checkout's node_modules. Either way the
 * project sees only what the tarball holds. `@types/node` is linked too (users have it).
 */
export async function packAndInstall(): Promise<PackedProject> {
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/machines/index.d.ts']) {
    if (!existsSync(path.join(REPO, f)))
      throw new Error(`${f} is missing: run npm run build first`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-readme-'));
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const packed = JSON.parse(pack.stdout) as Array<{ filename: string }>;
  const tarball = path.join(dir, packed[0].filename);
  const project = path.join(dir, 'project');
  mkdirSync(project);
  const own = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    engines: Record<string, string>;
  };
  const spec = `file:../${path.basename(tarball)}`;
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify(
      {
        name: 'readme-user',
        version: '1.0.0',
        private: true,
        dependencies: { 'rtmp-actors': spec },
      },
      null,
      2,
    ),
  );
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  writeFileSync(
    path.join(project, 'package-lock.json'),
    JSON.stringify(
      {
        name: 'readme-user',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name: 'readme-user', version: '1.0.0', dependencies: { 'rtmp-actors': spec } },
          'node_modules/rtmp-actors': {
            version: own.version,
            resolved: spec,
            integrity,
            dependencies: own.dependencies,
            bin: { 'rtmp-actors': 'bin/rtmp-actors' },
            engines: own.engines,
          },
          ...runtimeLockEntries(),
        },
      },
      null,
      2,
    ),
  );
  const ci = spawnSync('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: project,
    encoding: 'utf8',
    timeout: 180_000,
  });
  let installedWith: PackedProject['installedWith'] = 'npm ci';
  if (ci.status !== 0) {
    // Not every tarball is in this machine's npm cache: unpack ours, link the dependencies.
    installedWith = 'unpacked';
    const target = path.join(project, 'node_modules', 'rtmp-actors');
    mkdirSync(target, { recursive: true });
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
    if (tar.status !== 0) throw new Error(`cannot unpack ${tarball}: ${String(tar.stderr)}`);
    for (const entry of Object.keys(runtimeLockEntries())) {
      const name = entry.slice('node_modules/'.length);
      if (name.includes('/node_modules/')) continue; // nested: it lives inside its parent
      const to = path.join(project, 'node_modules', name);
      mkdirSync(path.dirname(to), { recursive: true });
      if (!existsSync(to)) symlinkSync(path.join(REPO, 'node_modules', name), to, 'dir');
    }
  }
  const types = path.join(project, 'node_modules', '@types', 'node');
  mkdirSync(path.dirname(types), { recursive: true });
  if (!existsSync(types))
    symlinkSync(path.join(REPO, 'node_modules', '@types', 'node'), types, 'dir');
  return { dir: project, installedWith, tarball };
}

export type ModuleSetting = 'esm' | 'cjs';

/** Writes every block into `<project>/<setting>/` with its tsconfig and compiles them all. */
export function compileBlocks(
  project: string,
  blocks: ReadmeBlock[],
  setting: ModuleSetting,
): { diagnostics: Map<number, string[]>; outDir: string; output: string } {
  const dir = path.join(project, setting);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ type: setting === 'esm' ? 'module' : 'commonjs' }),
  );
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022'],
          module: setting === 'esm' ? 'nodenext' : 'node16',
          moduleResolution: setting === 'esm' ? 'nodenext' : 'node16',
          strict: true,
          types: ['node'],
          outDir: 'out',
          rootDir: 'src',
          skipLibCheck: false,
        },
        include: ['src'],
      },
      null,
      2,
    ),
  );
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  for (const b of blocks) {
    const code = setting === 'esm' ? `${b.code}\nexport {};\n` : asCommonJs(b.code);
    writeFileSync(path.join(dir, 'src', `example-${b.index}.ts`), code);
  }
  const tsc = spawnSync(
    process.execPath,
    [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'],
    { cwd: dir, encoding: 'utf8', timeout: 300_000 },
  );
  const output = `${tsc.stdout}${tsc.stderr}`;
  const diagnostics = new Map<number, string[]>();
  for (const line of output.split('\n')) {
    const m = /example-(\d+)\.ts\((\d+),\d+\): error/.exec(line);
    if (m) {
      const list = diagnostics.get(Number(m[1])) ?? [];
      list.push(line);
      diagnostics.set(Number(m[1]), list);
    } else if (/error TS/.test(line)) {
      // An error outside the examples (in the package's own .d.ts): every block sees it.
      for (const b of blocks) diagnostics.set(b.index, [...(diagnostics.get(b.index) ?? []), line]);
    }
  }
  return { diagnostics, outDir: path.join(dir, 'out'), output };
}

/** The compiled block with `rtmp://127.0.0.1/` (no port) pointed at `port`. */
export function pointAt(js: string, port: number): string {
  return js.replace(/rtmp:\/\/127\.0\.0\.1\//g, `rtmp://127.0.0.1:${port}/`);
}

/** Runs a compiled ESM block in a fresh folder of the project; resolves with what it did. */
export async function runBlock(
  project: string,
  outDir: string,
  block: ReadmeBlock,
  port: number,
  timeoutMs: number,
): Promise<{
  code: number | null;
  signal: string | null;
  out: string;
  timedOut: boolean;
  cwd: string;
  files: string[];
}> {
  const js = readFileSync(path.join(outDir, `example-${block.index}.js`), 'utf8');
  const cwd = path.join(project, 'esm', `run-${block.index}`);
  mkdirSync(cwd, { recursive: true });
  const file = path.join(cwd, `example-${block.index}.js`);
  writeFileSync(file, pointAt(js, port));
  const result = await run(process.execPath, [file], { cwd, timeoutMs });
  return { ...result, cwd, files: readdirSync(cwd) };
}
