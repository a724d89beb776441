/**
 * `--inspect` without a URL: our loopback bridge and @statelyai/inspect's WebSocket inspector.
 * A WebSocket client stands in for the browser page (the page itself embeds stately.ai, which a
 * test cannot reach).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import { createSession, type Session } from '../../src/client';
import { startInspectorBridge } from '../../src/trace/bridge';
import { spawnTracked, waitFor } from '../helpers';

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function page(wsUrl: string): Promise<{ ws: WebSocket; messages: string[] }> {
  const ws = new WebSocket(wsUrl);
  const messages: string[] = [];
  ws.on('message', (d) => messages.push(String(d)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

describe('the --inspect bridge', () => {
  it('listens on loopback only and serves a page that embeds the inspector and reads its own host', async () => {
    const bridge = await startInspectorBridge();
    try {
      expect(bridge.pageUrl).toBe(`http://127.0.0.1:${bridge.port}/`);
      const html = await fetchText(bridge.pageUrl);
      expect(html).toContain('"https://stately.ai/inspect"');
      expect(html).toContain("new WebSocket('ws://' + location.host)");
      expect(await canConnect('127.0.0.1', bridge.port)).toBe(true);
      const external = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal);
      if (external) expect(await canConnect(external.address, bridge.port)).toBe(false);
    } finally {
      await bridge.stop();
    }
  });

  it('relays what one client sends to the others, and replays it to a page that connects late', async () => {
    const bridge = await startInspectorBridge();
    try {
      const early = await page(bridge.wsUrl);
      const sender = await page(bridge.wsUrl);
      sender.ws.send('{"type":"@xstate.event","n":1}');
      expect(await waitFor(() => early.messages.length === 1, 2_000)).toBe(true);
      const late = await page(bridge.wsUrl);
      expect(await waitFor(() => late.messages.length === 1, 2_000)).toBe(true);
      expect(late.messages[0]).toBe('{"type":"@xstate.event","n":1}');
      expect(sender.messages).toEqual([]);
      for (const p of [early, sender, late]) p.ws.close();
    } finally {
      await bridge.stop();
    }
  });

  // @statelyai/inspect is ESM-only and Jest runs CommonJS, so the inspector runs where users
  // run it: in the CLI (built), here `rtmp-actors serve --inspect`. The CLI compiles its bundle
  // with a V8 code cache (bin/code-cache.js), and on Node 20 an import() in a script compiled from
  // one has no callback: the first run makes the cache (cold), the second uses it (warm).
  const codeCache = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-inspect-code-cache-'));
  afterAll(() => rmSync(codeCache, { recursive: true, force: true }));
  const serveEntries = (): string[] =>
    readdirSync(codeCache).filter((n) => n.startsWith('serve-') && n.endsWith('.v8cache'));
  it.each(['cold', 'warm'] as const)(
    'carries the running server’s actors and events to the page from `serve --inspect`, with the stream key masked (%s code cache)',
    async (cache) => {
      const bundled = existsSync(path.join(__dirname, '..', '..', 'dist', 'bundle', 'serve.js'));
      // The cold run made the cache; the warm run must find it (else it is no warm run).
      if (bundled) expect(serveEntries()).toHaveLength(cache === 'cold' ? 0 : 1);
      const before = serveEntries().map((n) => statSync(path.join(codeCache, n)).mtimeMs);
      await serveInspect(codeCache);
      if (bundled) {
        expect(serveEntries()).toHaveLength(1);
        // A warm run leaves the cache as it found it: V8 took it.
        if (cache === 'warm') {
          expect(serveEntries().map((n) => statSync(path.join(codeCache, n)).mtimeMs)).toEqual(
            before,
          );
        }
      }
    },
    40_000,
  );
});

/** Runs `serve --inspect` with the code cache in `codeCache` and checks what the page gets. */
async function serveInspect(codeCache: string): Promise<void> {
  const bin = path.join(__dirname, '..', '..', 'bin', 'rtmp-actors');
  const serve = spawnTracked(
    'serve',
    process.execPath,
    [bin, 'serve', '--port', '0', '--inspect'],
    { env: { ...process.env, RTMP_ACTORS_CODE_CACHE: codeCache } },
  );
  let viewer: { ws: WebSocket; messages: string[] } | undefined;
  let session: Session | undefined;
  try {
    expect(
      await waitFor(
        () =>
          /open http:\/\/127\.0\.0\.1:\d+\/ in a browser/.test(serve.stderrTail()) &&
          /listening on rtmp:\/\/127\.0\.0\.1:\d+\//.test(serve.stdoutTail()),
        15_000,
      ),
    ).toBe(true);
    const pagePort = Number(/open http:\/\/127\.0\.0\.1:(\d+)\//.exec(serve.stderrTail())![1]);
    const rtmpPort = Number(
      /listening on rtmp:\/\/127\.0\.0\.1:(\d+)\//.exec(serve.stdoutTail())![1],
    );
    const html = await fetchText(`http://127.0.0.1:${pagePort}/`);
    expect(html).toContain('stately.ai/inspect');
    viewer = await page(`ws://127.0.0.1:${pagePort}`);
    session = createSession({ url: `rtmp://127.0.0.1:${rtmpPort}/live` });
    session.publish('verysecretkey', SMALL_FLV, { loop: true });
    const v = viewer;
    expect(await waitFor(() => v.messages.some((m) => m.includes('STREAM.PUBLISH')), 10_000)).toBe(
      true,
    );
    const types = new Set(v.messages.map((m) => (JSON.parse(m) as { type: string }).type));
    expect([...types]).toEqual(
      expect.arrayContaining(['@xstate.actor', '@xstate.event', '@xstate.snapshot']),
    );
    const text = v.messages.join('\n');
    expect(text).toContain('serverSupervisor');
    expect(text).toContain('connection-1');
    expect(text).not.toContain('verysecretkey');
    await session.close();
    session = undefined;
    expect(await serve.stop('SIGINT', 10_000)).toBe(0);
  } finally {
    viewer?.ws.close();
    await session?.close();
    await serve.stop('SIGKILL');
  }
}
