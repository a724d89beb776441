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

  /** True when the NetConnection may retry (refused, reset, timeout, DNS, closed). */
  get transient(): boolean {
    return TRANSIENT_TRANSPORT_ERRORS.includes(this.code);
  }
}
