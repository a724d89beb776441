/**
 * `--inspect [ws://host:port]`: the Stately inspector (@statelyai/inspect, ESM-only, loaded with a
 * dynamic import by ./importInspect only when asked for). Without a URL our loopback bridge
 * (./bridge) starts on a free port of 127.0.0.1 (the page it serves embeds
 * https://stately.ai/inspect, so the browser needs to reach it); with a ws:// URL the WebSocket
 * inspector connects there. Everything sent is made JSON-safe and redacted first. `stop()` closes
 * the socket and the server so the process exits.
 */
import { connect } from 'node:net';
import type { InspectionEvent } from 'xstate';
import { startInspectorBridge, type InspectorBridge } from './bridge';
import { jsonSafe, type TraceRecord, type TraceRedactor } from './record';

/** The parts of @statelyai/inspect's Inspector we use. */
export interface LiveInspector {
  /** Pass to createSession({ inspect }). */
  inspect: (ev: InspectionEvent) => void;
  /** Sends one recorded event (replay). */
  send(rec: TraceRecord): void;
  /** What to open or where events go, for the user. */
  where: string;
  /** Resolves true once the inspector's socket is open (false after `timeoutMs`). */
  ready(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** True for ws:// and wss:// URLs (the optional value of --inspect). */
export function isInspectorUrl(s: string): boolean {
  return /^wss?:\/\//i.test(s);
}

/** Rejects unless something accepts TCP connections at the ws:// URL's host and port. */
async function probe(wsUrl: string, timeoutMs = 2000): Promise<void> {
  const u = new URL(wsUrl);
  const port = Number(u.port || (u.protocol === 'wss:' ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${wsUrl}`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach ${wsUrl}: ${e.message}`));
    });
  });
}

/**
 * Starts (or connects to) an inspector. Rejects with a readable message when the library
 * cannot be loaded.
 */
export async function startInspector(
  url: string | undefined,
  redactor: TraceRedactor,
): Promise<LiveInspector> {
  let lib: typeof import('@statelyai/inspect');
  try {
    const { importInspect } = require('./importInspect') as typeof import('./importInspect');
    lib = await importInspect();
  } catch (e) {
    throw new Error(`cannot load @statelyai/inspect: ${(e as Error).message}`);
  }
  let server: InspectorBridge | undefined;
  let where: string;
  let wsUrl = url;
  if (!wsUrl) {
    server = await startInspectorBridge();
    wsUrl = server.wsUrl;
    where = `open ${server.pageUrl} in a browser to see the statecharts (events go to ${wsUrl}, loopback only)`;
  } else {
    // The library's socket retries an unreachable URL every 5 s for ever (keeping the process
    // alive): check that something listens first.
    await probe(wsUrl);
    where = `sending inspection events to ${wsUrl}`;
  }
  const inspector = lib.createWebSocketInspector({
    url: wsUrl,
    maxDeferredEvents: 10_000,
    serialize: (ev) => JSON.parse(redactor.text(JSON.stringify(jsonSafe(ev)))) as typeof ev,
  });
  const observer = inspector.inspect;
  return {
    inspect: (ev) => observer.next?.(ev),
    send(rec) {
      const id = rec.sessionId;
      switch (rec.type) {
        case '@xstate.actor':
          inspector.actor(
            id,
            { value: rec.value, status: rec.status as 'active' | undefined, context: {} },
            { parentId: rec.parentId, rootId: rec.rootId },
          );
          return;
        case '@xstate.event':
          inspector.event(id, (rec.event ?? { type: '?' }) as { type: string }, {
            source: rec.sourceSessionId,
          });
          return;
        case '@xstate.snapshot':
          inspector.snapshot(
            id,
            {
              value: rec.value,
              status: rec.status as 'active' | undefined,
              context: rec.context ?? {},
            },
            { event: (rec.event ?? { type: '' }) as { type: string } },
          );
          return;
        default:
          return;
      }
    },
    where,
    async ready(timeoutMs) {
      const adapter = inspector.adapter as unknown as { status?: string };
      const until = Date.now() + timeoutMs;
      while (adapter.status !== 'open') {
        if (Date.now() >= until) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    async stop() {
      // Let the events of the last tick (sent on a setTimeout by the library) go out first.
      await new Promise((r) => setTimeout(r, 50));
      inspector.stop();
      await server?.stop();
    },
  };
}
