/**
 * How a stream of a session ends, and why: the typed `StreamOutcome` that `stream.done` resolves
 * with, its `cause` (the socket error, the server's reply, the publish source's error), and
 * `classifyFailure`, which sorts a failure the way the command line's exit codes do.
 */
import type { InspectionEvent } from 'xstate';
import type {
  ConnectionFailureReason,
  StatusReply,
  StreamFailureReason,
  StreamLimit,
} from '../machines/contract';
import type { SessionRefusal } from '../machines/sessionSupervisorMachine';
import { TransportError } from './io/errors';
import { StatusCode } from './protocol/message/commands';

/** Why a play ended by itself: the server said so, or the client saw it was over. */
export type StreamEndReason =
  /** User Control StreamEOF. */
  | 'StreamEOF'
  | 'NetStream.Play.Stop'
  | 'NetStream.Play.Complete'
  | 'NetStream.Play.UnpublishNotify'
  /** The stream machine ended without a more specific reason. */
  | 'ended'
  /** A recorded play got no media for `endOnIdleMs`. */
  | 'IDLE_TIMEOUT'
  /** A recorded play reached its metadata duration, then went quiet. */
  | 'DURATION_REACHED';

/**
 * Why a stream ended:
 * - a `StreamFailureReason` of the stream machine (`CONNECTION_FAILED`, `REFUSED`,
 *   `CREATE_FAILED`, `STREAM_ID_IN_USE`, `CREATE_TIMEOUT`, `START_TIMEOUT`...);
 * - a `SessionRefusal` (`MAX_STREAMS`, `MAX_CONNECTIONS`, `DUPLICATE_KEY`): the session refused
 *   the request itself;
 * - `SOURCE_ERROR`: the file (or observable) a publish sends from failed;
 * - a `StreamEndReason` for a play that ended by itself.
 */
export type StreamOutcomeReason =
  StreamFailureReason | SessionRefusal | 'SOURCE_ERROR' | StreamEndReason;

/** One failed connection attempt, as the session saw it. */
export interface FailedAttempt {
  reason: ConnectionFailureReason;
  /** Transport error code (REFUSED, DNS, TIMEOUT, TLS...), handshake code or status code. */
  code?: string;
  message?: string;
  /** The NetConnection's state when the socket closed or failed (`session.connecting`...). */
  phase?: string;
  /** The socket error of this attempt, when there was one. */
  error?: TransportError;
}

/**
 * The detail of a failure (`outcome.cause`), by `kind`:
 * - `transport`: the server could not be reached or the socket failed. `error` is the
 *   `TransportError`: `code` REFUSED, DNS, TIMEOUT, TLS, RESET, CLOSED, PROTOCOL or LIMIT, and
 *   `errno` the system's ECONNREFUSED, ENOTFOUND, ETIMEDOUT or the TLS error's code.
 * - `connection`: the RTMP connection failed with no socket error: the handshake broke, the
 *   server did not answer `connect` in time, or it closed the socket (nginx-rtmp does that in
 *   answer to `connect` for an application it does not have).
 * - `status`: the server refused, with its information object (`NetConnection.Connect.Rejected`,
 *   `NetStream.Play.StreamNotFound`, `NetStream.Publish.BadName`, an `_error` to createStream).
 * - `source`: a publish's source could not be read or parsed (a missing file, not an FLV).
 * - `session`: the session refused the request itself (a limit, a key already open).
 */
export type StreamFailureCause =
  | {
      kind: 'transport';
      error: TransportError;
      /** The failed attempts, oldest first (the last MAX_ATTEMPTS_KEPT of them). */
      attempts: FailedAttempt[];
    }
  | { kind: 'connection'; reason: ConnectionFailureReason; attempts: FailedAttempt[] }
  | { kind: 'status'; status: StatusReply; attempts?: FailedAttempt[] }
  | { kind: 'source'; error: Error }
  | { kind: 'session'; refusal: SessionRefusal; message: string };

/** How a stream ended: `stream.done` resolves with it (it never rejects). */
export interface StreamOutcome {
  key: string;
  name: string;
  mode: 'play' | 'publish';
  /**
   * `stopped` by you (or the session's close), `ended` by itself (a play's end, a publish's
   * source ended), or `failed`.
   */
  outcome: 'stopped' | 'ended' | 'failed';
  reason?: StreamOutcomeReason;
  /** The server's information object, when it refused. */
  status?: StatusReply;
  /** The detail of a failure (see `StreamFailureCause`); `classifyFailure` sorts it. */
  cause?: StreamFailureCause;
  /** RETRIES_EXHAUSTED: how many attempts the stream made, and why the last one failed. */
  attempts?: number;
  lastReason?: string;
  /** MAX_STREAMS / MAX_CONNECTIONS: the session limit (option name and value) that refused it. */
  limit?: StreamLimit;
  /** A refusal's explanation, e.g. `stream "cam" refused: maxConnections (2) reached`. */
  message?: string;
}

/**
 * What kind of failure an outcome is, as the command line's exit codes sort them:
 * `unreachable` (3: refused port, DNS, timeout, TLS, after every retry), `rejected` (4: the
 * server refused the connection or the stream), `notFound` (5: no such stream), `protocol` (6:
 * the peer broke the protocol or a limit), `timeout` (the server did not answer createStream,
 * play or publish in time), `source` (a publish's source failed), `limit` (the session's own
 * limits), `failed` (anything else).
 */
export type FailureKind =
  'unreachable' | 'rejected' | 'notFound' | 'protocol' | 'timeout' | 'source' | 'limit' | 'failed';

export interface FailureClassification {
  kind: FailureKind;
  /** One line for a person (stream keys are not in it unless the server's reply holds them). */
  message: string;
}

const CONNECT_REFUSALS = new Set<ConnectionFailureReason>([
  'REJECTED',
  'INVALID_APP',
  'AUTH_FAILED',
  'CONNECT_ERROR',
]);
const HANDSHAKE_PROTOCOL = new Set<ConnectionFailureReason>([
  'BAD_VERSION',
  'BAD_DIGEST',
  'BAD_ECHO',
]);

function describeStatus(status: StatusReply | undefined): string {
  if (!status) return '';
  return status.description ? `${status.code}: ${status.description}` : status.code;
}

function attemptsOf(cause: StreamFailureCause | undefined): FailedAttempt[] {
  if (!cause) return [];
  if (cause.kind === 'transport' || cause.kind === 'connection') return cause.attempts;
  if (cause.kind === 'status') return cause.attempts ?? [];
  return [];
}

/**
 * Sorts a failed stream's outcome: the server refused, was never reached, broke the protocol,
 * or the stream does not exist. Undefined for an outcome that is not `failed`. The command
 * line's exit codes come from it (3 unreachable, 4 rejected, 5 notFound, 6 protocol, 1 the rest).
 */
export function classifyFailure(outcome: StreamOutcome): FailureClassification | undefined {
  if (outcome.outcome !== 'failed') return undefined;
  const cause = outcome.cause;
  const status = outcome.status ?? (cause?.kind === 'status' ? cause.status : undefined);
  const verb = outcome.mode;
  switch (outcome.reason) {
    case 'CONNECTION_FAILED':
      return classifyConnection(cause, status);
    case 'REFUSED':
      if (status?.code === StatusCode.PlayStreamNotFound) {
        return { kind: 'notFound', message: `no such stream (${describeStatus(status)})` };
      }
      return {
        kind: 'rejected',
        message: `the server refused to ${verb} the stream (${describeStatus(status) || 'no reason given'})`,
      };
    case 'CREATE_FAILED':
      return {
        kind: 'rejected',
        message: `the server refused createStream${status ? ` (${describeStatus(status)})` : ''}`,
      };
    case 'STREAM_ID_IN_USE':
      return {
        kind: 'protocol',
        message: 'the server gave this stream a message stream id already in use',
      };
    case 'CREATE_TIMEOUT':
    case 'START_TIMEOUT':
      return {
        kind: 'timeout',
        message: `the server did not answer ${outcome.reason === 'CREATE_TIMEOUT' ? 'createStream' : verb} in time`,
      };
    case 'SOURCE_ERROR':
      return {
        kind: 'source',
        message: `the source failed${cause?.kind === 'source' ? `: ${cause.error.message}` : ''}`,
      };
    case 'MAX_STREAMS':
    case 'MAX_CONNECTIONS':
    case 'DUPLICATE_KEY':
      return {
        kind: 'limit',
        message:
          cause?.kind === 'session' ? cause.message : `refused by the session (${outcome.reason})`,
      };
    default:
      return {
        kind: 'failed',
        message: `the stream failed (${outcome.reason ?? 'unknown reason'})`,
      };
  }
}

function classifyConnection(
  cause: StreamFailureCause | undefined,
  status: StatusReply | undefined,
): FailureClassification {
  const attempts = attemptsOf(cause);
  const last = attempts[attempts.length - 1];
  if (
    cause?.kind === 'status' ||
    (cause?.kind === 'connection' && CONNECT_REFUSALS.has(cause.reason))
  ) {
    return {
      kind: 'rejected',
      message: `the server refused the connection (${describeStatus(status) || (cause.kind === 'connection' ? cause.reason : 'no reason given')})`,
    };
  }
  const protocol = attempts.find(
    (a) =>
      HANDSHAKE_PROTOCOL.has(a.reason) ||
      (a.reason === 'TRANSPORT_ERROR' && (a.code === 'PROTOCOL' || a.code === 'LIMIT')),
  );
  if (protocol) {
    return {
      kind: 'protocol',
      message: `the peer broke the protocol (${protocol.reason}${protocol.message ? `: ${protocol.message}` : ''})`,
    };
  }
  // nginx-rtmp answers `connect` for an application it does not have by closing the socket,
  // without `_error`: a peer that closes every attempt right after our `connect` refused us.
  if (
    attempts.length > 0 &&
    attempts.every((a) => a.reason === 'TRANSPORT_CLOSED' && a.phase === 'session.connecting')
  ) {
    return {
      kind: 'rejected',
      message:
        'the server closed the connection in answer to `connect` (no such application, or a refusal without a reply)',
    };
  }
  const n = attempts.length;
  const detail = last
    ? `${last.reason}${last.message ? `: ${last.message}` : last.code ? ` ${last.code}` : ''}`
    : cause?.kind === 'connection'
      ? cause.reason
      : 'unknown';
  return {
    kind: 'unreachable',
    message: `could not connect${n > 1 ? ` after ${n} attempts` : ''} (${detail})`,
  };
}

/** The session was closed: `play()` and `publish()` are refused. */
export class SessionError extends Error {
  readonly layer = 'session';
  constructor(
    readonly code: 'SESSION_CLOSED',
    message: string,
    /** The offending data: the request (mode and stream name). */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

/* ------------------------------------------------------------------------------------------------
 * The session's record of its connections' failures (from the machines' inspection events)
 * ---------------------------------------------------------------------------------------------- */

/** Connections whose failure record is kept (the oldest is forgotten beyond it). */
export const MAX_CONNECTION_RECORDS = 256;
/** Failed attempts kept per connection (a cause lists the last ones; older ones are dropped). */
export const MAX_ATTEMPTS_KEPT = 100;

interface ConnectionRecord {
  attempts: FailedAttempt[];
  lastDrop?: { code?: string; message?: string; phase?: string };
  lastError?: TransportError;
  failure?: { reason: ConnectionFailureReason; status?: StatusReply };
}

/** Flattens a state value ({session: 'connecting'}) to `session.connecting`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}.${stateName(v)}`)
      .join(',');
  }
  return String(value);
}

interface ActorLike {
  id?: string;
  getSnapshot(): { value?: unknown } | undefined;
}

/**
 * @internal Follows every NetConnection of a session through xstate's inspection events (and
 * the transport's socket errors): which attempts failed, in which phase, with which socket
 * error, and why the connection failed for good. A failed stream's `cause` comes from here.
 */
export class ConnectionLog {
  private readonly records = new Map<string, ConnectionRecord>();

  private record(id: string): ConnectionRecord {
    let r = this.records.get(id);
    if (!r) {
      r = { attempts: [] };
      this.records.set(id, r);
      if (this.records.size > MAX_CONNECTION_RECORDS) {
        const oldest = this.records.keys().next().value;
        if (oldest !== undefined) this.records.delete(oldest);
      }
    }
    return r;
  }

  /** The transport's socket error (see `TransportDeps.onError`). */
  readonly onTransportError = (error: TransportError, ownerId: string | undefined): void => {
    if (ownerId !== undefined) this.record(ownerId).lastError = error;
  };

  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.event') return;
    const event = ev.event as { type: string } & Record<string, unknown>;
    switch (event.type) {
      case 'TRANSPORT.CLOSED':
      case 'TRANSPORT.ERROR': {
        const actor = ev.actorRef as unknown as ActorLike;
        // The handshake actor gets a forwarded TRANSPORT.CLOSED too: keep the connection's view.
        if (!actor.id?.startsWith('connection')) return;
        this.record(actor.id).lastDrop = {
          code:
            typeof event.code === 'string'
              ? event.code
              : event.type === 'TRANSPORT.CLOSED'
                ? 'CLOSED'
                : undefined,
          message: typeof event.message === 'string' ? event.message : undefined,
          phase: stateName(actor.getSnapshot()?.value),
        };
        return;
      }
      case 'CONNECTION.UP': {
        const r = this.record(String(event.connectionId));
        r.attempts = [];
        r.lastDrop = undefined;
        r.lastError = undefined;
        r.failure = undefined;
        return;
      }
      case 'CONNECTION.DOWN': {
        const r = this.record(String(event.connectionId));
        const a = event.attempt as {
          reason: ConnectionFailureReason;
          code?: string;
          message?: string;
        };
        this.push(r, this.attempt(r, a));
        return;
      }
      case 'CONNECTION.FAILED': {
        const r = this.record(String(event.connectionId));
        const reason = event.reason as ConnectionFailureReason;
        const status = event.status as StatusReply | undefined;
        r.failure = status ? { reason, status } : { reason };
        if (reason !== 'RETRIES_EXHAUSTED') {
          this.push(
            r,
            this.attempt(r, {
              reason,
              code: status?.code ?? r.lastDrop?.code,
              message: status?.description ?? r.lastDrop?.message,
            }),
          );
        }
        return;
      }
      default:
        return;
    }
  };

  private push(r: ConnectionRecord, attempt: FailedAttempt): void {
    r.attempts.push(attempt);
    if (r.attempts.length > MAX_ATTEMPTS_KEPT) r.attempts.shift();
  }

  private attempt(
    r: ConnectionRecord,
    a: { reason: ConnectionFailureReason; code?: string; message?: string },
  ): FailedAttempt {
    const attempt: FailedAttempt = { ...a };
    if (r.lastDrop?.phase !== undefined) attempt.phase = r.lastDrop.phase;
    if (a.reason === 'TRANSPORT_ERROR' && r.lastError) attempt.error = r.lastError;
    r.lastDrop = undefined;
    r.lastError = undefined;
    return attempt;
  }

  /**
   * Why connection `id` failed, as a stream's cause: the server's refusal, the last socket
   * error, or the connection's own reason (handshake, timeouts, closed by the peer).
   */
  causeOf(
    id: string | undefined,
    target?: { host: string; port: number },
  ): StreamFailureCause | undefined {
    const r = id === undefined ? undefined : this.records.get(id);
    if (!r?.failure) return undefined;
    const attempts = [...r.attempts];
    if (r.failure.status) return { kind: 'status', status: r.failure.status, attempts };
    const last = attempts[attempts.length - 1];
    if (last?.error) return { kind: 'transport', error: last.error, attempts };
    if (last?.reason === 'TRANSPORT_TIMEOUT' && target) {
      // The machine's own timer fired before the socket's: the same failure, told the same way.
      const error = new TransportError(
        'TIMEOUT',
        `${target.host}:${target.port}: connection timed out`,
        { ...target, errno: 'ETIMEDOUT' },
      );
      return { kind: 'transport', error, attempts };
    }
    return { kind: 'connection', reason: last?.reason ?? r.failure.reason, attempts };
  }
}
