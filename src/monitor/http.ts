/**
 * The monitor's HTTP side, on one address (`--metrics` / `--http`, 127.0.0.1 by default):
 *
 * - `GET /metrics`: Prometheus text format, from the registry.
 * - `GET /healthz`: 200 while the process runs (liveness).
 * - `GET /readyz`: 200 once the targets are loaded and the monitor runs, else 503 (readiness;
 *   not tied to the watched servers being up: reporting them down is the monitor's job).
 * - `GET /streams`: every stream's snapshot as JSON; `GET /streams/{id}` one of them.
 * - `POST /streams`: JSON body `{"id", "url", "labels"?}` adds a target: 201, 400 when invalid,
 *   409 when the id is taken, 413 above MAX_BODY_BYTES.
 * - `DELETE /streams/{id}`: 204, or 404 when no such target.
 *
 * A bad request gets a 4xx with a JSON body `{"error": {"code", "message"}}` and changes nothing.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Largest request body read (bytes); larger ones get 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What the API asks of the monitor. */
export interface MonitorApi {
  /** True once the targets are loaded and the monitor runs. */
  ready(): boolean;
  /** The JSON view of every stream. */
  streams(): unknown[];
  /** One stream's view, or undefined. */
  stream(id: string): unknown;
  /** Adds a target from a request body; throws ApiError (400/409) when it cannot. */
  add(body: unknown): { id: string };
  /** Removes a target; false when there is none of that id. */
  remove(id: string): boolean;
}

/** An API refusal: the HTTP status, a short code and a message for the JSON body. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 409 | 413 | 415,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface HttpServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 for any free port. */
  port: number;
  registry: Registry;
  /** Without it, only /metrics, /healthz and /readyz (always ready) are served. */
  api?: MonitorApi;
}

export interface HttpServer {
  /** The port actually bound. */
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = body === undefined ? '' : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError, headers = {}): void {
  sendJson(res, e.status, { error: { code: e.code, message: e.message } }, headers);
}

/** Reads a body up to MAX_BODY_BYTES; rejects with a 413 ApiError beyond. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tooLarge(): ApiError {
  return new ApiError(413, 'BODY_TOO_LARGE', `request body larger than ${MAX_BODY_BYTES} bytes`);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendError(res, new ApiError(405, 'METHOD_NOT_ALLOWED', `use ${allow}`), { allow });
}

/** Starts the HTTP server; resolves once it listens. */
export function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { host = '127.0.0.1', port, registry, api } = options;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (path === '/metrics') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(method === 'HEAD' ? undefined : text);
      return;
    }
    if (path === '/healthz') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      return sendJson(res, 200, { status: 'ok' });
    }
    if (path === '/readyz') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      const ready = api ? api.ready() : true;
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    }
    if (api && path === '/streams') {
      if (read) return sendJson(res, 200, api.streams());
      if (method !== 'POST') return methodNotAllowed(res, 'GET, HEAD, POST');
      const type = String(req.headers['content-type'] ?? 'application/json');
      if (!/^application\/(.+\+)?json\b/i.test(type))
        throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the target as application/json');
      const text = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ApiError(400, 'BAD_JSON', 'the body is not valid JSON');
      }
      const { id } = api.add(body);
      return sendJson(res, 201, { id }, { location: `/streams/${encodeURIComponent(id)}` });
    }
    if (api && path.startsWith('/streams/')) {
      let id: string;
      try {
        id = decodeURIComponent(path.slice('/streams/'.length));
      } catch {
        throw new ApiError(400, 'BAD_ID', 'the id in the path is not valid percent-encoding');
      }
      if (read) {
        const view = api.stream(id);
        if (view === undefined) throw new ApiError(404, 'NOT_FOUND', `no stream with id "${id}"`);
        return sendJson(res, 200, view);
      }
      if (method !== 'DELETE') return methodNotAllowed(res, 'GET, HEAD, DELETE');
      if (!api.remove(id)) throw new ApiError(404, 'NOT_FOUND', `no stream with id "${id}"`);
      res.writeHead(204).end();
      return;
    }
    throw new ApiError(404, 'NOT_FOUND', `nothing at ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        // The rest of a refused body is not read: close the connection after the answer.
        sendError(res, err, err.status === 413 ? { connection: 'close' } : {});
        return;
      }
      sendJson(res, 500, {
        error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) },
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = (server.address() as AddressInfo).port;
      resolve({
        port: bound,
        host,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
