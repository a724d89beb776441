import { TRANSIENT_TRANSPORT_ERRORS, type TransportErrorCode } from '../../machines/contract';

/**
 * A socket-level failure: the TCP connection was refused, reset or timed out, the name did not
 * resolve, or TLS verification failed. Thrown (rejected) by `connectSocket` and produced by
 * `classifySocketError` from Node's own errors, which it keeps as `cause`.
 */
export class TransportError extends Error {
  readonly layer = 'transport';
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    /** The offending data: host, port, the system or OpenSSL error code. */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }

  /**
   * The system's (or OpenSSL's) own code when there was one: `ECONNREFUSED`, `ENOTFOUND`,
   * `ECONNRESET`, `ETIMEDOUT` (our connect timeout too), `ERR_TLS_CERT_ALTNAME_INVALID`...
   */
  get errno(): string | undefined {
    const errno = this.details.errno;
    return typeof errno === 'string' ? errno : undefined;
  }

  /** True when the NetConnection may retry (refused, reset, timeout, DNS, closed). */
  get transient(): boolean {
    return TRANSIENT_TRANSPORT_ERRORS.includes(this.code);
  }
}

/**
 * Writing an FLV output failed: its folder does not exist or cannot be written (`OPEN_FAILED`),
 * or a write failed later (`WRITE_FAILED`, a full disk, a closed pipe). Rejected by
 * `stream.saveFlv`; Node's own error is the `cause`.
 */
export class OutputError extends Error {
  readonly layer = 'output';
  constructor(
    readonly code: 'OPEN_FAILED' | 'WRITE_FAILED',
    message: string,
    /** The offending data: the path (when a file), the system's error code. */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OutputError';
  }
}
