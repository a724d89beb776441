/**
 * The raw socket layer: open a TCP (rtmp) or TLS (rtmps) connection to a TransportTarget and map
 * every way that can fail to a typed TransportError. Nothing here knows RTMP.
 */
import * as net from 'node:net';
import type * as tls from 'node:tls';
import type { TransportErrorCode, TransportTarget } from '../../machines/contract';
import { TransportError } from './errors';

export interface ConnectOptions {
  /** Longest time for TCP connect plus (rtmps) the TLS handshake; the socket is destroyed after it. */
  timeoutMs: number;
  /** TCP keepalive initial delay in ms (default 15 000); 0 turns keepalive off. */
  keepAliveMs?: number;
  /** Aborting destroys the socket and rejects with a CLOSED TransportError. */
  signal?: AbortSignal;
  /**
   * rtmp (plain TCP) only: read into this one reusable buffer and pass each read to `onData` as
   * a view of it, valid only until `onData` returns (no Buffer is allocated per read, and no
   * 'data' event is emitted). Ignored for rtmps: read its 'data' events.
   */
  readInto?: { buffer: Uint8Array; onData: (bytes: Uint8Array) => void };
}

const DEFAULT_KEEPALIVE_MS = 15_000;

/**
 * Connects to `target` and resolves once the socket can carry RTMP bytes: after `connect` for
 * rtmp, after `secureConnect` (certificate verified unless `tls.rejectUnauthorized` is false)
 * for rtmps. The socket has Nagle off (`setNoDelay(true)`) and TCP keepalive on.
 * Rejects with a TransportError; the caller attaches its own `error` listener to the result.
 */
export function connectSocket(
  target: TransportTarget,
  opts: ConnectOptions,
): Promise<net.Socket | tls.TLSSocket> {
  const where = { host: target.host, port: target.port, protocol: target.protocol };
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortError(where));
      return;
    }
    const secure = target.protocol === 'rtmps';
    const socket: net.Socket = secure
      ? // node:tls (and node:crypto with it) loads only for rtmps: a plain start skips ~50 modules.
        (require('node:tls') as typeof tls).connect({
          host: target.host,
          port: target.port,
          // SNI must not carry an IP address (RFC 6066); Node then checks the IP SAN instead.
          servername: target.tls?.servername ?? (net.isIP(target.host) ? undefined : target.host),
          rejectUnauthorized: target.tls?.rejectUnauthorized ?? true,
          ca: target.tls?.ca,
        })
      : net.connect({
          host: target.host,
          port: target.port,
          ...(opts.readInto ? { onread: onreadOption(opts.readInto) } : {}),
        });
    const readyEvent = secure ? 'secureConnect' : 'connect';
    let tcpConnected = false;
    let settled = false;

    const onTcpConnect = (): void => {
      tcpConnected = true;
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('connect', onTcpConnect);
      socket.off(readyEvent, onReady);
      socket.off('error', onError);
      socket.off('close', onClose);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: TransportError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onReady = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.setNoDelay(true);
      const keepAliveMs = opts.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
      socket.setKeepAlive(keepAliveMs > 0, keepAliveMs > 0 ? keepAliveMs : undefined);
      resolve(socket);
    };
    const onError = (err: Error): void => fail(classifySocketError(err, where));
    const onClose = (): void =>
      fail(
        new TransportError(
          'CLOSED',
          `${describe(where)}: the connection closed before it was established`,
          where,
        ),
      );
    const onAbort = (): void => fail(abortError(where));

    const timer = setTimeout(() => {
      const phase =
        secure && tcpConnected
          ? 'TLS handshake (TCP connected, no TLS answer)'
          : secure
            ? 'TCP connect (before TLS)'
            : 'TCP connect';
      fail(
        new TransportError(
          'TIMEOUT',
          `${describe(where)}: ${phase} timed out after ${opts.timeoutMs} ms`,
          { ...where, timeoutMs: opts.timeoutMs, tcpConnected, errno: 'ETIMEDOUT' },
        ),
      );
    }, opts.timeoutMs);

    socket.on('connect', onTcpConnect);
    socket.on(readyEvent, onReady);
    socket.on('error', onError);
    socket.on('close', onClose);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function onreadOption(into: {
  buffer: Uint8Array;
  onData: (bytes: Uint8Array) => void;
}): net.OnReadOpts {
  const { buffer, onData } = into;
  return {
    buffer,
    callback: (n: number): boolean => {
      onData(buffer.subarray(0, n));
      return true;
    },
  };
}

function describe(where: { host?: string; port?: number; protocol?: string }): string {
  // A host with a colon is an IPv6 literal (names have none). Not net.isIPv6: its first call
  // compiles a large regular expression, milliseconds of a refused command's start.
  const host = where.host?.includes(':') ? `[${where.host}]` : where.host;
  const hostPort = host !== undefined ? `${host}:${where.port ?? '?'}` : 'socket';
  return where.protocol ? `${where.protocol}://${hostPort}` : hostPort;
}

function abortError(where: { host: string; port: number; protocol: string }): TransportError {
  return new TransportError('CLOSED', `${describe(where)}: connect aborted`, where);
}

const SYSTEM_CODES: Readonly<Record<string, TransportErrorCode>> = {
  ECONNREFUSED: 'REFUSED',
  EHOSTUNREACH: 'REFUSED',
  ENETUNREACH: 'REFUSED',
  EADDRNOTAVAIL: 'REFUSED',
  ECONNRESET: 'RESET',
  ECONNABORTED: 'RESET',
  EPIPE: 'RESET',
  ETIMEDOUT: 'TIMEOUT',
  ENOTFOUND: 'DNS',
  EAI_AGAIN: 'DNS',
  EAI_FAIL: 'DNS',
  EAI_NODATA: 'DNS',
  EAI_NONAME: 'DNS',
  ERR_SOCKET_CLOSED: 'CLOSED',
  ERR_STREAM_DESTROYED: 'CLOSED',
  ERR_STREAM_WRITE_AFTER_END: 'CLOSED',
};

const SYSTEM_REASONS: Readonly<Record<TransportErrorCode, string>> = {
  REFUSED: 'connection refused (nothing listens there, or the host is unreachable)',
  RESET: 'connection reset by the peer',
  TIMEOUT: 'connection timed out',
  DNS: 'the host name did not resolve',
  TLS: 'TLS failed',
  CLOSED: 'the socket is closed',
  PROTOCOL: 'protocol error',
  LIMIT: 'limit exceeded',
};

/** Why OpenSSL / Node refused a peer, in words, by error code. */
const TLS_REASONS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in a self-signed CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    'the server certificate is not signed by a trusted CA (pass the CA in tls.ca)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    'the issuer of the server certificate is not trusted (pass the CA in tls.ca)',
  UNABLE_TO_GET_ISSUER_CERT: 'the issuer of the server certificate is unknown',
  CERT_SIGNATURE_FAILURE: 'the server certificate signature does not verify',
  CERT_REVOKED: 'the server certificate is revoked',
  CERT_UNTRUSTED: 'the server certificate is not trusted',
  CERT_REJECTED: 'the server certificate is rejected',
  INVALID_CA: 'a CA certificate in the chain is invalid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not name this host',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server did not answer with TLS (is it a plain rtmp port?)',
};

const TLS_CODE = /^(CERT_|CRL_|UNABLE_TO_|ERR_TLS_|ERR_SSL_|ERROR_IN_|X509_)/;
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

/**
 * Maps any error a socket can raise to a TransportError: ECONNREFUSED → REFUSED,
 * ECONNRESET/EPIPE → RESET, ETIMEDOUT → TIMEOUT, ENOTFOUND/EAI_AGAIN → DNS, certificate and
 * handshake failures → TLS (the message names the reason). A TransportError passes through.
 */
export function classifySocketError(
  err: unknown,
  where: { host?: string; port?: number; protocol?: string } = {},
): TransportError {
  if (err instanceof TransportError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    code?: unknown;
    message?: unknown;
    reason?: unknown;
    syscall?: unknown;
    address?: unknown;
    port?: unknown;
  };
  const raw = typeof e.code === 'string' ? e.code : undefined;
  const nodeMessage =
    typeof e.message === 'string' ? e.message : err === undefined ? 'unknown error' : String(err);
  const place = {
    host: where.host ?? (typeof e.address === 'string' ? e.address : undefined),
    port: where.port ?? (typeof e.port === 'number' ? e.port : undefined),
    protocol: where.protocol,
  };
  const details = { ...place, errno: raw, syscall: e.syscall };

  if (raw !== undefined && (TLS_CODE.test(raw) || TLS_CODES.has(raw))) {
    const reason = TLS_REASONS[raw] ?? nodeMessage;
    const extra = typeof e.reason === 'string' && e.reason !== reason ? ` (${e.reason})` : '';
    return new TransportError(
      'TLS',
      `${describe(place)}: TLS failed: ${reason}${extra} [${raw}]`,
      details,
      {
        cause: err,
      },
    );
  }
  const code: TransportErrorCode = (raw && SYSTEM_CODES[raw]) || 'CLOSED';
  const reason = raw && SYSTEM_CODES[raw] ? SYSTEM_REASONS[code] : nodeMessage;
  return new TransportError(
    code,
    `${describe(place)}: ${reason}${raw ? ` [${raw}]` : ''}`,
    details,
    { cause: err },
  );
}
