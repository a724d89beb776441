import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { TransportTarget } from '../../machines/contract';
import { TransportError } from '../../src/io/errors';
import { classifySocketError, connectSocket } from '../../src/io/socket';
import { freePort } from '../helpers/ports';
import { makeTestCertificates, type TestCertificates } from '../helpers/certs';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

function listen<S extends net.Server>(server: S): Promise<number> {
  servers.push(server);
  // afterEach destroys the server side of every connection too, so that close() can finish.
  server.on('connection', (s: net.Socket) => sockets.push(s));
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** A TCP (or TLS) server that echoes what it gets; remembers the sockets it accepted. */
async function echoServer(
  tlsOptions?: tls.TlsOptions,
): Promise<{ port: number; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const onSocket = (s: net.Socket): void => {
    accepted.push(s);
    s.on('error', () => undefined);
    s.pipe(s);
  };
  const server = tlsOptions ? tls.createServer(tlsOptions, onSocket) : net.createServer(onSocket);
  // TLS servers report client handshake failures here; the client side is what we test.
  server.on('tlsClientError', () => undefined);
  return { port: await listen(server), accepted };
}

function echo(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (d: Buffer) => resolve(d.toString()));
    socket.once('error', reject);
    socket.write(text);
  });
}

async function failure(target: TransportTarget, timeoutMs = 5000): Promise<TransportError> {
  try {
    const s = await connectSocket(target, { timeoutMs });
    sockets.push(s);
  } catch (err) {
    if (err instanceof TransportError) return err;
    throw err;
  }
  throw new Error('connectSocket resolved');
}

let certs: TestCertificates;
let expired: TestCertificates;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtmp-actors-socket-'));
  certs = await makeTestCertificates(join(dir, 'valid'), { hostname: 'rtmp.test' });
  expired = await makeTestCertificates(join(dir, 'expired'), {
    hostname: 'rtmp.test',
    expired: true,
  });
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(
    servers
      .splice(0)
      .map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
});

describe('connectSocket over TCP', () => {
  it('rejects with REFUSED when nothing listens on the port', async () => {
    const port = await freePort();
    const err = await failure({ protocol: 'rtmp', host: '127.0.0.1', port });
    expect(err.code).toBe('REFUSED');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toMatch(/refused/);
    expect(err.transient).toBe(true);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('resolves with a connected socket, Nagle off and keepalive on, when a listener accepts', async () => {
    const { port, accepted } = await echoServer();
    const noDelay = jest.spyOn(net.Socket.prototype, 'setNoDelay');
    const keepAlive = jest.spyOn(net.Socket.prototype, 'setKeepAlive');
    try {
      const socket = await connectSocket(
        { protocol: 'rtmp', host: '127.0.0.1', port },
        { timeoutMs: 2000, keepAliveMs: 5000 },
      );
      sockets.push(socket);
      expect(socket).not.toBeInstanceOf(tls.TLSSocket);
      expect(socket.remotePort).toBe(port);
      expect(noDelay).toHaveBeenCalledWith(true);
      expect(keepAlive).toHaveBeenCalledWith(true, 5000);
      // connectSocket leaves no listeners of its own behind
      expect(socket.listenerCount('error')).toBe(0);
      expect(socket.listenerCount('close')).toBe(0);
      expect(await echo(socket, 'C0C1')).toBe('C0C1');
      expect(accepted).toHaveLength(1);
    } finally {
      noDelay.mockRestore();
      keepAlive.mockRestore();
    }
  });

  it('turns keepalive off with keepAliveMs 0', async () => {
    const { port } = await echoServer();
    const keepAlive = jest.spyOn(net.Socket.prototype, 'setKeepAlive');
    try {
      sockets.push(
        await connectSocket(
          { protocol: 'rtmp', host: '127.0.0.1', port },
          { timeoutMs: 2000, keepAliveMs: 0 },
        ),
      );
      expect(keepAlive).toHaveBeenCalledWith(false, undefined);
    } finally {
      keepAlive.mockRestore();
    }
  });

  it('rejects with CLOSED and destroys the socket when the signal aborts', async () => {
    // A listener with TLS expected but never answered keeps the connect pending.
    const accepted: net.Socket[] = [];
    const port = await listen(net.createServer((s) => accepted.push(s)));
    const controller = new AbortController();
    const pending = connectSocket(
      {
        protocol: 'rtmps',
        host: '127.0.0.1',
        port,
        tls: { rejectUnauthorized: true, ca: certs.ca },
      },
      { timeoutMs: 5000, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toMatchObject({
      code: 'CLOSED',
      message: expect.stringMatching(/aborted/),
    });
    expect(accepted).toHaveLength(1);
    // the server side sees the client go away
    await new Promise((resolve) => accepted[0].resume().once('close', resolve));
    expect(accepted[0].destroyed).toBe(true);
  });
});

describe('connectSocket over TLS', () => {
  it('connects and verifies the server against the given CA', async () => {
    const { port } = await echoServer({ cert: certs.cert, key: certs.key });
    const socket = (await connectSocket(
      {
        protocol: 'rtmps',
        host: '127.0.0.1',
        port,
        tls: { rejectUnauthorized: true, ca: certs.ca },
      },
      { timeoutMs: 3000 },
    )) as tls.TLSSocket;
    sockets.push(socket);
    expect(socket).toBeInstanceOf(tls.TLSSocket);
    expect(socket.authorized).toBe(true);
    expect(await echo(socket, 'hello over tls')).toBe('hello over tls');
  });

  it('sends the host name as SNI and checks the certificate against it', async () => {
    let sni: string | undefined;
    const server = tls.createServer({ cert: certs.cert, key: certs.key }, (s) => {
      sni = (s as tls.TLSSocket & { servername?: string }).servername;
      s.end();
    });
    const port = await listen(server);
    const socket = (await connectSocket(
      {
        protocol: 'rtmps',
        host: '127.0.0.1',
        port,
        tls: { rejectUnauthorized: true, servername: 'rtmp.test', ca: certs.ca },
      },
      { timeoutMs: 3000 },
    )) as tls.TLSSocket;
    sockets.push(socket);
    expect(socket.authorized).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sni).toBe('rtmp.test');
  });

  it('rejects with TLS naming the untrusted issuer when the CA is not given', async () => {
    const { port } = await echoServer({ cert: certs.cert, key: certs.key });
    const err = await failure({ protocol: 'rtmps', host: '127.0.0.1', port });
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/not signed by a trusted CA.*UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(err.transient).toBe(false);
  });

  it('rejects with TLS when the certificate names another host', async () => {
    const { port } = await echoServer({ cert: certs.cert, key: certs.key });
    const err = await failure({
      protocol: 'rtmps',
      host: '127.0.0.1',
      port,
      tls: { rejectUnauthorized: true, servername: 'wrong.example', ca: certs.ca },
    });
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/does not name this host/);
    expect(err.message).toMatch(/wrong\.example/);
    expect(err.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('rejects with TLS saying the certificate expired', async () => {
    const { port } = await echoServer({ cert: expired.cert, key: expired.key });
    const err = await failure({
      protocol: 'rtmps',
      host: '127.0.0.1',
      port,
      tls: { rejectUnauthorized: true, ca: expired.ca },
    });
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/has expired.*CERT_HAS_EXPIRED/);
  });

  it('connects to an unverified server when rejectUnauthorized is false', async () => {
    const { port } = await echoServer({ cert: expired.cert, key: expired.key });
    const socket = (await connectSocket(
      { protocol: 'rtmps', host: '127.0.0.1', port, tls: { rejectUnauthorized: false } },
      { timeoutMs: 3000 },
    )) as tls.TLSSocket;
    sockets.push(socket);
    expect(socket.authorized).toBe(false);
    expect(await echo(socket, 'x')).toBe('x');
  });

  it('rejects with TLS when a plain RTMP server answers the TLS hello', async () => {
    const port = await listen(
      net.createServer((s) => {
        s.on('error', () => undefined);
        // S0 + part of S1: what an rtmp:// server sends, not a TLS record
        s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(64)]));
      }),
    );
    const err = await failure({ protocol: 'rtmps', host: '127.0.0.1', port });
    expect(err.code).toBe('TLS');
    expect(err.message).toMatch(/TLS failed/);
  });

  it('rejects with RESET when the server closes during the TLS handshake', async () => {
    const port = await listen(net.createServer((s) => s.destroy()));
    const err = await failure({ protocol: 'rtmps', host: '127.0.0.1', port });
    expect(err.code).toBe('RESET');
    expect(err.transient).toBe(true);
  });

  it('times out, and destroys the socket, when the server accepts TCP but never answers TLS', async () => {
    const accepted: net.Socket[] = [];
    const port = await listen(net.createServer((s) => accepted.push(s)));
    const started = Date.now();
    const err = await failure({ protocol: 'rtmps', host: '127.0.0.1', port }, 300);
    const elapsed = Date.now() - started;
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(/TLS handshake.*timed out after 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    expect(accepted).toHaveLength(1);
    // the server side sees the client go away
    await new Promise((resolve) => accepted[0].resume().once('close', resolve));
    expect(accepted[0].destroyed).toBe(true);
  });
});

describe('classifySocketError', () => {
  const errno = (code: string, message = `boom ${code}`): NodeJS.ErrnoException =>
    Object.assign(new Error(message), { code });

  it.each([
    ['ECONNREFUSED', 'REFUSED'],
    ['ECONNRESET', 'RESET'],
    ['EPIPE', 'RESET'],
    ['ETIMEDOUT', 'TIMEOUT'],
    ['ENOTFOUND', 'DNS'],
    ['EAI_AGAIN', 'DNS'],
    ['CERT_HAS_EXPIRED', 'TLS'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'TLS'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'TLS'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'TLS'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'TLS'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'TLS'],
    ['ERR_SOCKET_CLOSED', 'CLOSED'],
    ['ESOMETHINGELSE', 'CLOSED'],
  ])('maps %s to %s', (code, expected) => {
    const e = classifySocketError(errno(code), {
      host: 'example.com',
      port: 1935,
      protocol: 'rtmp',
    });
    expect(e).toBeInstanceOf(TransportError);
    expect(e.code).toBe(expected);
    expect(e.message).toContain('rtmp://example.com:1935');
    expect(e.message).toContain(code);
    expect(e.details).toMatchObject({ host: 'example.com', port: 1935, errno: code });
  });

  it('names the DNS failure in words', () => {
    expect(
      classifySocketError(errno('ENOTFOUND'), { host: 'nowhere.invalid', port: 1935 }).message,
    ).toBe('nowhere.invalid:1935: the host name did not resolve [ENOTFOUND]');
  });

  it('passes a TransportError through unchanged', () => {
    const original = new TransportError('TIMEOUT', 'slow');
    expect(classifySocketError(original)).toBe(original);
  });

  it('classifies values that are not errors as CLOSED without throwing', () => {
    expect(classifySocketError('weird').code).toBe('CLOSED');
    expect(classifySocketError(undefined).message).toContain('unknown error');
    expect(classifySocketError(null).code).toBe('CLOSED');
  });
});
