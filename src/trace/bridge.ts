/**
 * The local bridge between `--inspect` and the Stately inspector, bound to loopback only.
 *
 * @statelyai/inspect's own bridge server listens on every interface, which would offer a
 * session's inspection events to the whole network. This one listens on 127.0.0.1: an HTTP page
 * that embeds the inspector (https://stately.ai/inspect) in an iframe, and a WebSocket endpoint on
 * the same port. Every message a client sends (our WebSocket inspector) goes to every other
 * client (the page); the last `bufferSize` are kept for a page opened late.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
// `ws` and `node:http` load when a bridge starts (only with --inspect), not with every command.
type WsModule = typeof import('ws');
type HttpModule = typeof import('node:http');

export interface InspectorBridge {
  port: number;
  /** The page to open in a browser. */
  pageUrl: string;
  /** Where the WebSocket inspector sends its events. */
  wsUrl: string;
  stop(): Promise<void>;
}

export interface BridgeOptions {
  /** Default 0: any free port. */
  port?: number;
  /** The inspector UI the page embeds. */
  inspectorUrl?: string;
  /** Messages kept for a page that connects later. Default 10 000. */
  bufferSize?: number;
}

/** The page: forwards WebSocket messages to the embedded inspector once it says it is ready. */
function page(inspectorUrl: string): string {
  const src = JSON.stringify(inspectorUrl);
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><title>rtmp-actors: Stately inspector</title>
<style>html,body,iframe{margin:0;width:100%;height:100%;border:0}</style></head>
<body>
<iframe id="inspector"></iframe>
<script>
  const frame = document.getElementById('inspector');
  frame.src = ${src};
  const pending = [];
  let ready = false;
  const deliver = (data) => frame.contentWindow.postMessage(data, '*');
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected' && !ready) {
      ready = true;
      pending.splice(0).forEach(deliver);
    }
  });
  const socket = new WebSocket('ws://' + location.host);
  socket.onmessage = (e) => {
    const data = JSON.parse(e.data);
    if (ready) deliver(data); else pending.push(data);
  };
</script>
</body>
</html>
`;
}

/** Starts the bridge on 127.0.0.1. */
export function startInspectorBridge(options: BridgeOptions = {}): Promise<InspectorBridge> {
  const html = page(options.inspectorUrl ?? 'https://stately.ai/inspect');
  const bufferSize = options.bufferSize ?? 10_000;
  const { createServer } = require('node:http') as HttpModule;
  const { WebSocket, WebSocketServer } = require('ws') as WsModule;
  const http = createServer((_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  const wss = new WebSocketServer({ server: http });
  const buffer: string[] = [];
  wss.on('connection', (ws) => {
    for (const message of buffer) ws.send(message);
    ws.on('message', (data) => {
      const message = String(data);
      buffer.push(message);
      if (buffer.length > bufferSize) buffer.shift();
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(message);
      }
    });
    ws.on('error', () => undefined);
  });
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, '127.0.0.1', () => {
      http.off('error', reject);
      const address = http.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        port,
        pageUrl: `http://127.0.0.1:${port}/`,
        wsUrl: `ws://127.0.0.1:${port}`,
        stop: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            http.close(() => done());
            http.closeAllConnections();
          }),
      });
    });
  });
}
