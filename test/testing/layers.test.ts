/**
 * The layers, as the lint rules of eslint.config.js enforce them (protocol imports no IO, rxjs or
 * xstate; machines import no IO; nothing outside src/cli imports src/cli), and no import cycle
 * in src/ or machines/, type-only imports included.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.join(__dirname, '..', '..');

async function restricted(filePath: string, code: string): Promise<string[]> {
  // The project's config, loaded with require: jest cannot run ESLint's dynamic import of it.
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: require(
      path.join(ROOT, 'eslint.config.js'),
    ) as ESLint.Options['overrideConfig'],
  });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, filePath) });
  return result.messages
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => /'([^']+)' import/.exec(m.message)?.[1] ?? m.message);
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative imports (`import … from`, `export … from`, `require()`), `import type` included. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps: string[] = [];
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|require\()\s*'(\.[^']*)'/g)) {
      const base = path.join(path.dirname(file), m[1]);
      const found = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => existsSync(c));
      if (found) deps.push(found);
    }
    graph.set(file, deps);
  }
  return graph;
}

function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const stack: string[] = [];
  const onStack = new Set<string>();
  const done = new Set<string>();
  const visit = (n: string): void => {
    stack.push(n);
    onStack.add(n);
    for (const m of graph.get(n) ?? []) {
      if (onStack.has(m))
        found.push(
          [...stack.slice(stack.indexOf(m)), m].map((f) => path.relative(ROOT, f)).join(' -> '),
        );
      else if (!done.has(m)) visit(m);
    }
    stack.pop();
    onStack.delete(n);
    done.add(n);
  };
  for (const n of graph.keys()) if (!done.has(n)) visit(n);
  return found;
}

describe('the layers', () => {
  jest.setTimeout(60_000);

  it('keeps src/protocol free of IO, rxjs, xstate and the layers above it', async () => {
    const code = [
      "import { createServer } from 'node:net';",
      "import { readFileSync } from 'fs';",
      "import { Subject } from 'rxjs';",
      "import { setup } from 'xstate';",
      "import { map } from 'rxjs/operators';",
      "import { socketActor } from '../../io/socket';",
      "import { Observable } from '../../rx';",
      "import type { CliIo } from '../../cli/types';",
      "import { createHash } from 'node:crypto';",
      "import { ChunkDecoder } from '../chunk';",
      'export const all = [createServer, readFileSync, Subject, setup, map, socketActor, Observable, createHash, ChunkDecoder];',
      'export type Io = CliIo;',
    ].join('\n');
    expect(await restricted('src/protocol/message/zz-layer-probe.ts', code)).toEqual([
      'node:net',
      'fs',
      'rxjs',
      'xstate',
      'rxjs/operators',
      '../../io/socket',
      '../../rx',
      '../../cli/types',
    ]);
  });

  it('keeps machines/ free of IO', async () => {
    const code = [
      "import { connect } from 'node:tls';",
      "import { spawn } from 'child_process';",
      "import { socketActor } from '../src/io/socket';",
      "import { RtmpServer } from '../src/server/server';",
      "import { setup } from 'xstate';",
      "import { readReply } from '../src/protocol/message/commands';",
      'export const all = [connect, spawn, socketActor, RtmpServer, setup, readReply];',
    ].join('\n');
    expect(await restricted('machines/zzLayerProbe.ts', code)).toEqual([
      'node:tls',
      'child_process',
      '../src/io/socket',
      '../src/server/server',
    ]);
  });

  it('keeps the server session (src/server/session.ts) sans-IO', async () => {
    const code = [
      "import { createServer } from 'node:net';",
      "import { Subject } from 'rxjs';",
      "import { setup } from 'xstate';",
      "import { ServerConnection } from './connection';",
      "import { RtmpServer } from './server';",
      "import { httpHooks } from './authorize';",
      "import { decodeRtmp } from '../pipeline/decode';",
      "import { ControlDuties } from '../protocol/controlDuties';",
      "import { splitStreamName } from './request';",
      "import type { ServerIoEvent } from '../../machines/serverConnectionMachine';",
      'export const all = [createServer, Subject, setup, ServerConnection, RtmpServer, httpHooks, decodeRtmp, ControlDuties, splitStreamName];',
      'export type E = ServerIoEvent;',
    ].join('\n');
    expect(await restricted('src/server/session.ts', code)).toEqual([
      'node:net',
      'rxjs',
      'xstate',
      './connection',
      './server',
      './authorize',
      '../pipeline/decode',
    ]);
  });

  it('lets only src/cli import src/cli', async () => {
    const code = "import type { CliIo } from '../cli/types';\nexport type Io = CliIo;\n";
    expect(await restricted('src/monitor/zz-layer-probe.ts', code)).toEqual(['../cli/types']);
    expect(await restricted('src/trace/zz-layer-probe.ts', code)).toEqual(['../cli/types']);
    expect(await restricted('src/cli/zz-layer-probe.ts', code.replace('../cli/', './'))).toEqual(
      [],
    );
  });

  it('has no import cycle in src/ or machines/, type-only imports included', () => {
    const files = [...tsFiles(path.join(ROOT, 'src')), ...tsFiles(path.join(ROOT, 'machines'))];
    expect(files.length).toBeGreaterThan(50);
    expect(cycles(importGraph(files))).toEqual([]);
  });
});
