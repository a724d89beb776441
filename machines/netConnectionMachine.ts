/**
 * One RTMP NetConnection as a statechart: open the transport, run the handshake (an invoked
 * handshakeMachine), send `connect`, then serve the connection's duties (acknowledgements, ping,
 * window and chunk sizes) and its streams (createStream, routing of their messages) until it
 * closes. Transient failures retry with exponential backoff and jitter; permanent failures
 * (refusals, bad handshakes, protocol violations) fail at once.
 *
 * No IO here: the socket is the invoked `transport` actor (machines/contract.ts), provided with
 * `.provide({ actors: { transport } })`; clock and randomness come in through the input.
 */
import {
  assign,
  enqueueActions,
  sendTo,
  setup,
  fromCallback,
  type AnyActorRef,
  type DoneActorEvent,
} from 'xstate';
import type { AmfValue } from '../src/protocol/amf/types';
import {
  acknowledgement,
  pingRequestTime,
  pingResponse,
  windowAcknowledgementSize,
} from '../src/protocol/controlDuties';
import {
  buildConnect,
  buildCreateStream,
  isStatusInfo,
  readReply,
  readStatus,
  StatusCode,
  type ConnectParams,
} from '../src/protocol/message/commands';
import type { RtmpMessage } from '../src/protocol/message/types';
import {
  readCapabilities,
  resolveReconnectUrl,
  type ErtmpCapabilities,
} from '../src/protocol/message/capabilities';
import {
  TRANSIENT_TRANSPORT_ERRORS,
  type ConnectionAttempt,
  type ConnectionFailureReason,
  type ConnectionNotification,
  type ConnectionRequest,
  type HandshakeForm,
  type StatusReply,
  type TransportCommand,
  type TransportEvent,
} from './contract';
import {
  handshakeMachine,
  type HandshakeEvent,
  type HandshakeOutput,
  type TransportRef,
} from './handshakeMachine';

export interface NetConnectionTimeouts {
  /** TRANSPORT.OPEN until TRANSPORT.CONNECTED. */
  transport: number;
  /** The whole handshake (enforced by the invoked handshake machine). */
  handshake: number;
  /** `connect` until its `_result`. */
  connect: number;
  /** TRANSPORT.CLOSE until TRANSPORT.CLOSED. */
  close: number;
  /**
   * A ReconnectRequest until the owner moved every stream to the new connection
   * (NC.RECONNECT_DONE); after it the migration is abandoned and this connection serves on.
   */
  reconnect: number;
}

export interface RetryPolicy {
  /** Connection attempts in a row (the first one included) before `failed`. */
  maxAttempts: number;
  /** Backoff before the second attempt; doubles each attempt. */
  baseMs: number;
  /** Largest backoff. */
  maxMs: number;
}

export interface NetConnectionInput {
  /** The name this connection gives itself in notifications (the supervisor's child id). */
  connectionId?: string;
  /** Passed unchanged as the transport actor's input (e.g. src/io TransportInput). */
  transport?: unknown;
  /** The connect command object (app, tcUrl, flashVer, ...) and optional user arguments. */
  connect: ConnectParams;
  /** Handshake form. Default 'digest' (what rtmpdump and FFmpeg send). */
  form?: HandshakeForm;
  /** Connect as soon as the actor starts, without waiting for NC.CONNECT. */
  autostart?: boolean;
  /** Our outgoing chunk size, announced before `connect`. Default 4096. */
  chunkSize?: number;
  /** The Window Acknowledgement Size we announce (answer to Set Peer Bandwidth). Default 2 500 000. */
  windowAckSize?: number;
  timeouts?: Partial<NetConnectionTimeouts>;
  retry?: Partial<RetryPolicy>;
  /** Uniform random number in [0, 1) for the backoff jitter. Default Math.random. */
  random?: () => number;
  /** Clock in ms for the attempt log. Default Date.now. */
  now?: () => number;
}

export interface NetConnectionFailure {
  reason: ConnectionFailureReason;
  code?: string;
  message?: string;
  /** The server's information object, for refusals. */
  status?: StatusReply;
}

export interface StreamRegistration {
  requester: AnyActorRef;
  sinkKey: string;
}

export interface PeerSettings {
  /** The peer's Set Chunk Size (the decoder applied it already; bookkeeping only). */
  chunkSize: number;
  /** The peer's Window Acknowledgement Size. */
  ackWindow: number | undefined;
  /** The peer's Set Peer Bandwidth. */
  bandwidth: { windowSize: number; limitType: number } | undefined;
  /** The sequence number of our last Acknowledgement. */
  acknowledged: number;
  /** Whether our Window Acknowledgement Size went out on this socket already. */
  windowAckSent: boolean;
}

export interface NetConnectionContext {
  connectionId: string;
  transportInput: unknown;
  connect: ConnectParams;
  form: HandshakeForm;
  autostart: boolean;
  chunkSize: number;
  windowAckSize: number;
  timeouts: NetConnectionTimeouts;
  retry: RetryPolicy;
  random: () => number;
  now: () => number;
  /** Attempts started since the last successful connect. */
  attempt: number;
  /** Failed attempts since the last successful connect. */
  attempts: ConnectionAttempt[];
  /** The backoff chosen for the pending retry. */
  nextRetryDelay: number;
  failure: NetConnectionFailure | undefined;
  /** The connect `_result`: server properties, information object, Enhanced RTMP capabilities. */
  server:
    | { properties: AmfValue; info: StatusReply | undefined; capabilities: ErtmpCapabilities }
    | undefined;
  /** The pending or last ReconnectRequest (Enhanced RTMP v2) and what became of it. */
  reconnect: ReconnectRecord | undefined;
  connectTransactionId: number;
  nextTransactionId: number;
  /** createStream requests in flight, by transaction id. */
  pendingCreates: Record<string, StreamRegistration>;
  /** Streams on this connection, by message stream id. */
  streams: Record<string, StreamRegistration>;
  peer: PeerSettings;
  /** How the machine ended (set on entering a final state). */
  outcome: 'open' | 'closed' | 'failed';
}

/** A ReconnectRequest the server sent, and what became of it. */
export interface ReconnectRecord {
  /** Where to reconnect: the request's tcUrl resolved against ours, or our own tcUrl. */
  tcUrl: string;
  description?: string;
  /** `pending` while in `reconnecting`; `abandoned` when it timed out or the owner gave up. */
  outcome: 'pending' | 'abandoned';
  /** Why it was abandoned: RECONNECT_TIMEOUT, or the owner's reason (e.g. the new connection's failure). */
  reason?: string;
  message?: string;
}

export type NetConnectionEvent =
  | { type: 'NC.CONNECT' }
  | { type: 'NC.CLOSE' }
  /** The owner moved every stream to the new connection: close this one. */
  | { type: 'NC.RECONNECT_DONE' }
  /** The owner could not move the streams (the new connection failed...): serve on. */
  | { type: 'NC.RECONNECT_FAILED'; reason: string; message?: string }
  | ConnectionRequest
  | TransportEvent;

export interface NetConnectionOutput {
  connectionId: string;
  outcome: 'closed' | 'failed';
  failure: NetConnectionFailure | undefined;
  attempts: ConnectionAttempt[];
}

export const DEFAULT_NET_CONNECTION_TIMEOUTS: Readonly<NetConnectionTimeouts> = Object.freeze({
  transport: 10_000,
  handshake: 10_000,
  connect: 10_000,
  close: 2_000,
  reconnect: 15_000,
});

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  baseMs: 500,
  maxMs: 30_000,
});

/**
 * The backoff before the next attempt: `min(maxMs, baseMs * 2^(attempt-1))`, of which the upper
 * half is jitter (`random()` in [0, 1)). `attempt` is the number of attempts made so far (>= 1).
 */
export function retryDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(exponent, 30));
  const half = ceiling / 2;
  return Math.round(half + half * Math.min(Math.max(random(), 0), 1));
}

/** Why a connect refusal happened, from the server's information object. */
export function classifyConnectRefusal(status: StatusReply | undefined): ConnectionFailureReason {
  const code = status?.code ?? '';
  const text = `${code} ${status?.description ?? ''}`;
  if (/auth/i.test(text)) return 'AUTH_FAILED';
  if (code === 'NetConnection.Connect.InvalidApp') return 'INVALID_APP';
  if (code === StatusCode.ConnectRejected) return 'REJECTED';
  return 'CONNECT_ERROR';
}

function statusOf(v: AmfValue): StatusReply | undefined {
  if (!isStatusInfo(v)) return undefined;
  const out: StatusReply = { level: v.level, code: v.code };
  if (typeof v.description === 'string') out.description = v.description;
  return out;
}

const CONTROL_TYPES = new Set<RtmpMessage['type']>([
  'SetChunkSize',
  'Abort',
  'Acknowledgement',
  'WindowAckSize',
  'SetPeerBandwidth',
]);

const CONNECTION_COMMANDS = new Set(['_result', '_error', 'onBWDone', 'close', '_checkbw']);

/** Messages that belong to the NetConnection itself rather than to one of its streams. */
export function isConnectionLevel(message: RtmpMessage): boolean {
  if (CONTROL_TYPES.has(message.type)) return true;
  if (message.type === 'UserControl') {
    return (
      message.event === 'PingRequest' ||
      message.event === 'PingResponse' ||
      message.event === 'Unknown' ||
      message.streamId === 0
    );
  }
  if (message.type === 'Command') {
    if (CONNECTION_COMMANDS.has(message.name)) return true;
    const status = readStatus(message);
    return status !== undefined && status.code.startsWith('NetConnection.');
  }
  return false;
}

/** The message stream a stream-level message is for (User Control events carry their own). */
function targetStreamId(message: RtmpMessage): number {
  return message.streamId;
}

/** The registered stream a message (or media tick) for `streamId` goes to, if any. */
export function streamFor(
  streams: Record<string, StreamRegistration>,
  streamId: number,
): StreamRegistration | undefined {
  const direct = streams[String(streamId)];
  if (direct) return direct;
  const all = Object.values(streams);
  // node-media-server and FFmpeg's listener put everything on message stream 0.
  if (streamId === 0 && all.length === 1) return all[0];
  return undefined;
}

function connectReplyStatus(message: RtmpMessage, connectTid: number): StatusReply | 'none' {
  const reply = readReply(message);
  if (reply && reply.transactionId === connectTid) return statusOf(reply.info) ?? 'none';
  return 'none';
}

function handshakeOutput(event: NetConnectionEvent): HandshakeOutput | undefined {
  return (event as unknown as DoneActorEvent<HandshakeOutput>).output;
}

const HANDSHAKE_REASONS: Record<string, ConnectionFailureReason> = {
  TIMEOUT: 'HANDSHAKE_TIMEOUT',
  SOCKET_CLOSED: 'HANDSHAKE_SOCKET_CLOSED',
  BAD_VERSION: 'BAD_VERSION',
  BAD_DIGEST: 'BAD_DIGEST',
  BAD_ECHO: 'BAD_ECHO',
};

function omitKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(record)) if (k !== key) out[k] = v;
  return out;
}

const freshPeer = (): PeerSettings => ({
  chunkSize: 128,
  ackWindow: undefined,
  bandwidth: undefined,
  acknowledged: 0,
  windowAckSent: false,
});

/** Placeholder: the runtime or a test provides the real transport with `.provide()`. */
const transportPlaceholder = fromCallback<TransportCommand, unknown>(() => {
  throw new Error(
    'netConnectionMachine: no transport actor; use .provide({ actors: { transport } })',
  );
});

export const netConnectionMachine = setup({
  types: {
    context: {} as NetConnectionContext,
    events: {} as NetConnectionEvent,
    input: {} as NetConnectionInput,
    output: {} as NetConnectionOutput,
    children: {} as { transport: 'transport'; handshake: 'handshake' },
  },
  actors: {
    transport: transportPlaceholder,
    handshake: handshakeMachine,
  },
  actions: {
    /** Counts the attempt that starts now and forgets the previous socket's state. */
    beginAttempt: assign({
      attempt: ({ context }) => context.attempt + 1,
      connectTransactionId: 1,
      nextTransactionId: 2,
      peer: () => freshPeer(),
      server: undefined,
      reconnect: undefined,
    }),
    markOutcome: assign((_, params: { outcome: 'closed' | 'failed' }) => ({
      outcome: params.outcome,
    })),
    openTransport: sendTo('transport', { type: 'TRANSPORT.OPEN' }),
    forwardToHandshake: sendTo('handshake', ({ event }) => event as HandshakeEvent),
    /** Our chunk size first, then connect (transaction 1). */
    sendConnect: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.SET_CHUNK_SIZE',
        chunkSize: context.chunkSize,
      });
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.SEND',
        message: buildConnect(context.connect, { transactionId: context.connectTransactionId }),
      });
    }),
    closeTransport: sendTo('transport', { type: 'TRANSPORT.CLOSE' }),
    recordServerInfo: assign({
      server: ({ event }) => {
        const reply = event.type === 'RTMP.MESSAGE' ? readReply(event.message) : undefined;
        return reply
          ? {
              properties: reply.properties,
              info: statusOf(reply.info),
              capabilities: readCapabilities(reply.properties, reply.info),
            }
          : undefined;
      },
    }),
    /** A ReconnectRequest: where to go (its tcUrl resolved against ours). */
    recordReconnectRequest: assign({
      reconnect: ({ context, event }) => {
        const status = event.type === 'RTMP.MESSAGE' ? readStatus(event.message) : undefined;
        const own = context.connect.tcUrl ?? '';
        const asked = typeof status?.tcUrl === 'string' ? status.tcUrl : undefined;
        const record: ReconnectRecord = {
          tcUrl: asked !== undefined ? resolveReconnectUrl(asked, own) : own,
          outcome: 'pending',
        };
        if (typeof status?.description === 'string') record.description = status.description;
        return record;
      },
    }),
    /** The reconnect was abandoned: say why (params.reason, or the owner's). */
    recordReconnectAbandoned: assign({
      reconnect: ({ context, event }, params: { reason?: string }) => {
        if (!context.reconnect) return undefined;
        const record: ReconnectRecord = { ...context.reconnect, outcome: 'abandoned' };
        if (event.type === 'NC.RECONNECT_FAILED') {
          record.reason = event.reason;
          if (event.message !== undefined) record.message = event.message;
        } else {
          record.reason = params.reason ?? 'ABANDONED';
        }
        return record;
      },
    }),
    /** A successful connect clears the attempt log. */
    resetAttempts: assign({ attempt: 0, attempts: [], failure: undefined }),
    /** Records why this attempt failed (params.reason), with the event's details. */
    recordFailure: assign(({ context, event }, params: { reason: ConnectionFailureReason }) => {
      const attempt: ConnectionAttempt = { time: context.now(), reason: params.reason };
      if (event.type === 'TRANSPORT.ERROR') {
        attempt.code = event.code;
        attempt.message = event.message;
      } else if (event.type === 'TRANSPORT.CLOSED') {
        attempt.code = 'CLOSED';
      }
      const failure: NetConnectionFailure = { reason: params.reason };
      if (attempt.code !== undefined) failure.code = attempt.code;
      if (attempt.message !== undefined) failure.message = attempt.message;
      return { attempts: [...context.attempts, attempt], failure };
    }),
    recordTransportError: assign(({ context, event }) => {
      if (event.type !== 'TRANSPORT.ERROR') return {};
      const attempt: ConnectionAttempt = {
        time: context.now(),
        reason: 'TRANSPORT_ERROR',
        code: event.code,
        message: event.message,
      };
      return {
        attempts: [...context.attempts, attempt],
        failure: { reason: 'TRANSPORT_ERROR', code: event.code, message: event.message },
      };
    }),
    recordHandshakeFailure: assign(({ context, event }) => {
      const output = handshakeOutput(event);
      const code = output && !output.ok ? output.reason : 'TIMEOUT';
      const message = output && !output.ok ? output.message : '';
      const reason = HANDSHAKE_REASONS[code] ?? 'HANDSHAKE_TIMEOUT';
      return {
        attempts: [...context.attempts, { time: context.now(), reason, code, message }],
        failure: { reason, code, message },
      };
    }),
    /** The server refused `connect`: keep its reply. */
    recordRefusal: assign(({ context, event }) => {
      if (event.type !== 'RTMP.MESSAGE') return {};
      const reply = readReply(event.message);
      const status =
        reply !== undefined ? statusOf(reply.info) : statusOf(readStatus(event.message) ?? null);
      const reason =
        reply && !reply.ok && !status ? 'CONNECT_ERROR' : classifyConnectRefusal(status);
      const failure: NetConnectionFailure = { reason };
      if (status) {
        failure.status = status;
        failure.code = status.code;
        if (status.description !== undefined) failure.message = status.description;
      }
      return {
        attempts: [...context.attempts, { time: context.now(), reason, code: status?.code }],
        failure,
      };
    }),
    recordRetriesExhausted: assign({
      failure: ({ context }) => ({
        reason: 'RETRIES_EXHAUSTED' as const,
        message: `${context.attempt} attempts failed`,
        code: context.failure?.reason,
      }),
    }),
    scheduleRetry: assign({
      nextRetryDelay: ({ context }) => retryDelay(context.attempt, context.retry, context.random),
    }),
    /** The peer's Window Acknowledgement Size: acknowledge every that many bytes. */
    /**
     * The peer's Window Acknowledgement Size: acknowledge per window from now on, and send our own
     * Window Acknowledgement Size at once if we have not yet. nginx-rtmp sends its first message
     * alone and holds the rest until the client's delayed TCP ACK (~40 ms); a reply to that first
     * message carries the ACK immediately.
     */
    recordAckWindow: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RTMP.MESSAGE' || event.message.type !== 'WindowAckSize') return;
      const windowSize = event.message.windowSize;
      enqueue.assign({ peer: { ...context.peer, ackWindow: windowSize, windowAckSent: true } });
      enqueue.sendTo('transport', { type: 'TRANSPORT.SET_ACK_WINDOW', windowSize });
      if (context.peer.windowAckSent) return;
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.SEND',
        message: windowAcknowledgementSize(context.windowAckSize),
      });
    }),
    /** Set Peer Bandwidth: answer with our Window Acknowledgement Size, unless it went out already. */
    answerPeerBandwidth: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RTMP.MESSAGE' || event.message.type !== 'SetPeerBandwidth') return;
      const { windowSize, limitType } = event.message;
      enqueue.assign({
        peer: { ...context.peer, bandwidth: { windowSize, limitType }, windowAckSent: true },
      });
      if (context.peer.windowAckSent) return;
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.SEND',
        message: windowAcknowledgementSize(context.windowAckSize),
      });
    }),
    sendAcknowledgement: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'TRANSPORT.ACK_DUE') return;
      const sequenceNumber = event.sequenceNumber >>> 0;
      enqueue.assign({ peer: { ...context.peer, acknowledged: sequenceNumber } });
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.SEND',
        message: acknowledgement(sequenceNumber),
      });
    }),
    /** PingResponse with the PingRequest's time (the shared control duties build it). */
    answerPing: sendTo('transport', ({ event }) => ({
      type: 'TRANSPORT.SEND' as const,
      message: pingResponse(
        (event.type === 'RTMP.MESSAGE' ? pingRequestTime(event.message) : undefined) ?? 0,
      ),
    })),
    recordPeerChunkSize: assign({
      peer: ({ context, event }) =>
        event.type === 'RTMP.MESSAGE' && event.message.type === 'SetChunkSize'
          ? { ...context.peer, chunkSize: event.message.chunkSize }
          : context.peer,
    }),
    /** NC.CREATE_STREAM: allocate a transaction id, send createStream, remember the requester. */
    requestCreateStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'NC.CREATE_STREAM') return;
      const tid = context.nextTransactionId;
      enqueue.assign({
        nextTransactionId: tid + 1,
        pendingCreates: {
          ...context.pendingCreates,
          [String(tid)]: { requester: event.requester, sinkKey: event.sinkKey },
        },
      });
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.SEND',
        message: buildCreateStream({ transactionId: tid }),
      });
    }),
    /** The createStream reply: register the stream and answer its requester. */
    answerCreateStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RTMP.MESSAGE') return;
      const reply = readReply(event.message);
      if (!reply) return;
      const key = String(reply.transactionId);
      const pending = context.pendingCreates[key];
      if (!pending) return;
      const pendingCreates = omitKey(context.pendingCreates, key);
      if (!reply.ok || typeof reply.info !== 'number') {
        enqueue.assign({ pendingCreates });
        const status = statusOf(reply.info);
        enqueue.sendTo(pending.requester, {
          type: 'STREAM.CREATE_FAILED',
          reason: 'ERROR',
          ...(status ? { status } : {}),
        });
        return;
      }
      const streamId = reply.info;
      if (context.streams[String(streamId)]) {
        // nginx-rtmp answers every createStream with 1: this server serves one stream here.
        enqueue.assign({ pendingCreates });
        enqueue.sendTo(pending.requester, {
          type: 'STREAM.CREATE_FAILED',
          reason: 'STREAM_ID_IN_USE',
          streamId,
        });
        return;
      }
      enqueue.assign({
        pendingCreates,
        streams: { ...context.streams, [String(streamId)]: pending },
      });
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.ROUTE_MEDIA',
        streamId,
        sinkKey: pending.sinkKey,
      });
      enqueue.sendTo(pending.requester, { type: 'STREAM.CREATED', streamId });
    }),
    refuseCreateStream: sendTo(
      ({ event }) => (event as Extract<NetConnectionEvent, { type: 'NC.CREATE_STREAM' }>).requester,
      { type: 'STREAM.CREATE_FAILED', reason: 'NOT_CONNECTED' },
    ),
    releaseStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'NC.RELEASE_STREAM') return;
      const key = String(event.streamId);
      const registered = context.streams[key];
      if (!registered || registered.requester !== event.requester) return;
      enqueue.assign({ streams: omitKey(context.streams, key) });
      enqueue.sendTo('transport', {
        type: 'TRANSPORT.UNROUTE_MEDIA',
        streamId: event.streamId,
        sinkKey: registered.sinkKey,
      });
    }),
    forwardToTransport: sendTo('transport', ({ event }) => ({
      type: 'TRANSPORT.SEND' as const,
      message: (event as Extract<NetConnectionEvent, { type: 'NC.SEND' }>).message,
    })),
    /** A stream-level message goes to the stream registered for its message stream id. */
    routeToStream: sendTo(
      ({ context, event }) => {
        const message = (event as Extract<NetConnectionEvent, { type: 'RTMP.MESSAGE' }>).message;
        return streamFor(context.streams, targetStreamId(message))?.requester as AnyActorRef;
      },
      ({ event }) => event as never,
    ),
    routeTickToStream: sendTo(
      ({ context, event }) =>
        streamFor(
          context.streams,
          (event as Extract<NetConnectionEvent, { type: 'MEDIA.TICK' }>).streamId,
        )?.requester as AnyActorRef,
      ({ event }) => event as never,
    ),
    /** The socket is gone: the server forgot our streams; tell whoever still waits for one. */
    forgetStreams: enqueueActions(({ context, enqueue }) => {
      for (const pending of Object.values(context.pendingCreates)) {
        enqueue.sendTo(pending.requester, {
          type: 'STREAM.CREATE_FAILED',
          reason: 'NOT_CONNECTED',
        });
      }
      enqueue.assign({ pendingCreates: {}, streams: {} });
    }),
    /** Tells the parent (the session supervisor), if there is one. */
    notifyParent: enqueueActions(
      (
        { context, enqueue, self },
        params: {
          kind: 'up' | 'down' | 'failed' | 'closed' | 'reconnectRequested' | 'reconnectAbandoned';
        },
      ) => {
        if (!self._parent) return;
        const connectionId = context.connectionId;
        let notice: ConnectionNotification;
        if (params.kind === 'up') {
          notice = {
            type: 'CONNECTION.UP',
            connectionId,
            ...(context.server ? { capabilities: context.server.capabilities } : {}),
          };
        } else if (params.kind === 'reconnectRequested' || params.kind === 'reconnectAbandoned') {
          const r = context.reconnect;
          notice =
            params.kind === 'reconnectRequested'
              ? {
                  type: 'CONNECTION.RECONNECT_REQUESTED',
                  connectionId,
                  tcUrl: r?.tcUrl ?? context.connect.tcUrl ?? '',
                  ...(r?.description !== undefined ? { description: r.description } : {}),
                }
              : {
                  type: 'CONNECTION.RECONNECT_ABANDONED',
                  connectionId,
                  reason: r?.reason ?? 'ABANDONED',
                };
        } else if (params.kind === 'closed') notice = { type: 'CONNECTION.CLOSED', connectionId };
        else if (params.kind === 'down') {
          const attempt = context.attempts[context.attempts.length - 1] ?? {
            time: context.now(),
            reason: 'TRANSPORT_CLOSED' as const,
          };
          notice = { type: 'CONNECTION.DOWN', connectionId, attempt };
        } else {
          notice = {
            type: 'CONNECTION.FAILED',
            connectionId,
            reason: context.failure?.reason ?? 'RETRIES_EXHAUSTED',
            ...(context.failure?.status ? { status: context.failure.status } : {}),
          };
        }
        enqueue.sendParent(notice);
      },
    ),
  },
  guards: {
    shouldAutostart: ({ context }) => context.autostart,
    canRetry: ({ context }) => context.attempt < context.retry.maxAttempts,
    isTransientTransportError: ({ event }) =>
      event.type === 'TRANSPORT.ERROR' && TRANSIENT_TRANSPORT_ERRORS.includes(event.code),
    handshakeSucceeded: ({ event }) => handshakeOutput(event)?.ok === true,
    handshakeFailedTransiently: ({ event }) => {
      const output = handshakeOutput(event);
      return (
        output?.ok === false && (output.reason === 'TIMEOUT' || output.reason === 'SOCKET_CLOSED')
      );
    },
    isConnectSuccess: ({ context, event }) => {
      if (event.type !== 'RTMP.MESSAGE') return false;
      const reply = readReply(event.message);
      if (!reply || reply.transactionId !== context.connectTransactionId || !reply.ok) return false;
      const status = statusOf(reply.info);
      return status === undefined || status.code === StatusCode.ConnectSuccess;
    },
    /** `_error` (or a non-success `_result`) for connect, or a NetConnection.Connect.* error status. */
    isConnectRefusal: ({ context, event }) => {
      if (event.type !== 'RTMP.MESSAGE') return false;
      const reply = readReply(event.message);
      if (reply) {
        if (reply.transactionId !== context.connectTransactionId) return false;
        const status = connectReplyStatus(event.message, context.connectTransactionId);
        return !reply.ok || (status !== 'none' && status.code !== StatusCode.ConnectSuccess);
      }
      const status = readStatus(event.message);
      return (
        status !== undefined &&
        status.code.startsWith('NetConnection.Connect.') &&
        status.level === 'error'
      );
    },
    /** onStatus NetConnection.Connect.ReconnectRequest (level status), Enhanced RTMP v2. */
    isReconnectRequest: ({ event }) => {
      if (event.type !== 'RTMP.MESSAGE') return false;
      const status = readStatus(event.message);
      return status?.code === StatusCode.ConnectReconnectRequest && status.level === 'status';
    },
    isWindowAckSize: ({ event }) =>
      event.type === 'RTMP.MESSAGE' && event.message.type === 'WindowAckSize',
    isSetPeerBandwidth: ({ event }) =>
      event.type === 'RTMP.MESSAGE' && event.message.type === 'SetPeerBandwidth',
    isPingRequest: ({ event }) =>
      event.type === 'RTMP.MESSAGE' &&
      event.message.type === 'UserControl' &&
      event.message.event === 'PingRequest',
    isSetChunkSize: ({ event }) =>
      event.type === 'RTMP.MESSAGE' && event.message.type === 'SetChunkSize',
    isCreateStreamReply: ({ context, event }) => {
      if (event.type !== 'RTMP.MESSAGE') return false;
      const reply = readReply(event.message);
      return (
        reply !== undefined && context.pendingCreates[String(reply.transactionId)] !== undefined
      );
    },
    isForStream: ({ context, event }) =>
      event.type === 'RTMP.MESSAGE' &&
      !isConnectionLevel(event.message) &&
      streamFor(context.streams, targetStreamId(event.message)) !== undefined,
    hasStreamForTick: ({ context, event }) =>
      event.type === 'MEDIA.TICK' && streamFor(context.streams, event.streamId) !== undefined,
  },
  delays: {
    transportTimeout: ({ context }) => context.timeouts.transport,
    connectTimeout: ({ context }) => context.timeouts.connect,
    closeTimeout: ({ context }) => context.timeouts.close,
    reconnectTimeout: ({ context }) => context.timeouts.reconnect,
    retryBackoff: ({ context }) => context.nextRetryDelay,
  },
}).createMachine({
  id: 'netConnection',
  description: 'One RTMP NetConnection: transport, handshake, connect, duties, streams, retries.',
  context: ({ input }) => ({
    connectionId: input.connectionId ?? 'connection',
    transportInput: input.transport,
    connect: input.connect,
    form: input.form ?? 'digest',
    autostart: input.autostart ?? false,
    chunkSize: input.chunkSize ?? 4096,
    windowAckSize: input.windowAckSize ?? 2_500_000,
    timeouts: { ...DEFAULT_NET_CONNECTION_TIMEOUTS, ...(input.timeouts ?? {}) },
    retry: { ...DEFAULT_RETRY_POLICY, ...(input.retry ?? {}) },
    random: input.random ?? Math.random,
    now: input.now ?? Date.now,
    attempt: 0,
    attempts: [],
    nextRetryDelay: 0,
    failure: undefined,
    server: undefined,
    reconnect: undefined,
    connectTransactionId: 1,
    nextTransactionId: 2,
    pendingCreates: {},
    streams: {},
    peer: freshPeer(),
    outcome: 'open',
  }),
  initial: 'idle',
  on: {
    'NC.CREATE_STREAM': { actions: 'refuseCreateStream' },
  },
  states: {
    idle: {
      always: { guard: 'shouldAutostart', target: 'session' },
      on: {
        'NC.CONNECT': { target: 'session' },
        'NC.CLOSE': { target: 'closed' },
      },
    },
    session: {
      description: 'A socket exists: the transport actor lives as long as this state.',
      entry: 'beginAttempt',
      exit: 'forgetStreams',
      invoke: {
        id: 'transport',
        src: 'transport',
        input: ({ context }: { context: NetConnectionContext }) => context.transportInput,
      },
      on: {
        'TRANSPORT.ERROR': [
          {
            guard: 'isTransientTransportError',
            target: 'retrying',
            actions: 'recordTransportError',
          },
          { target: 'failed', actions: 'recordTransportError' },
        ],
        'TRANSPORT.CLOSED': {
          target: 'retrying',
          actions: { type: 'recordFailure', params: { reason: 'TRANSPORT_CLOSED' } },
        },
        'TRANSPORT.ACK_DUE': { actions: 'sendAcknowledgement' },
        'RTMP.MESSAGE': [
          { guard: 'isWindowAckSize', actions: 'recordAckWindow' },
          { guard: 'isSetPeerBandwidth', actions: 'answerPeerBandwidth' },
          { guard: 'isPingRequest', actions: 'answerPing' },
          { guard: 'isSetChunkSize', actions: 'recordPeerChunkSize' },
        ],
      },
      initial: 'opening',
      states: {
        opening: {
          entry: 'openTransport',
          after: {
            transportTimeout: {
              target: '#netConnection.retrying',
              actions: { type: 'recordFailure', params: { reason: 'TRANSPORT_TIMEOUT' } },
            },
          },
          on: {
            'TRANSPORT.CONNECTED': { target: 'handshaking' },
            'NC.CLOSE': { target: 'closing' },
          },
        },
        handshaking: {
          invoke: {
            id: 'handshake',
            src: 'handshake',
            input: ({ context, self }) => ({
              role: 'client' as const,
              form: context.form,
              timeoutMs: context.timeouts.handshake,
              transport: self.getSnapshot()?.children?.transport as TransportRef | undefined,
            }),
            onDone: [
              { guard: 'handshakeSucceeded', target: 'connecting' },
              {
                guard: 'handshakeFailedTransiently',
                target: '#netConnection.retrying',
                actions: 'recordHandshakeFailure',
              },
              { target: '#netConnection.failed', actions: 'recordHandshakeFailure' },
            ],
          },
          on: {
            'HANDSHAKE.PEER_HELLO': { actions: 'forwardToHandshake' },
            'HANDSHAKE.PEER_ECHO': { actions: 'forwardToHandshake' },
            'HANDSHAKE.FAILED': { actions: 'forwardToHandshake' },
            'TRANSPORT.CLOSED': { actions: 'forwardToHandshake' },
            'NC.CLOSE': { target: 'closing' },
          },
        },
        connecting: {
          entry: 'sendConnect',
          after: {
            connectTimeout: {
              target: '#netConnection.retrying',
              actions: { type: 'recordFailure', params: { reason: 'CONNECT_TIMEOUT' } },
            },
          },
          on: {
            'RTMP.MESSAGE': [
              {
                guard: 'isConnectSuccess',
                target: 'connected',
                actions: ['recordServerInfo', 'resetAttempts'],
              },
              {
                guard: 'isConnectRefusal',
                target: '#netConnection.failed',
                actions: 'recordRefusal',
              },
            ],
            'NC.CLOSE': { target: 'closing' },
          },
        },
        connected: {
          entry: { type: 'notifyParent', params: { kind: 'up' } },
          on: {
            'NC.CREATE_STREAM': { actions: 'requestCreateStream' },
            'NC.RELEASE_STREAM': { actions: 'releaseStream' },
            'NC.SEND': { actions: 'forwardToTransport' },
            'RTMP.MESSAGE': [
              { guard: 'isCreateStreamReply', actions: 'answerCreateStream' },
              { guard: 'isForStream', actions: 'routeToStream' },
              {
                guard: 'isReconnectRequest',
                target: 'reconnecting',
                actions: [
                  'recordReconnectRequest',
                  { type: 'notifyParent', params: { kind: 'reconnectRequested' } },
                ],
              },
            ],
            'MEDIA.TICK': { guard: 'hasStreamForTick', actions: 'routeTickToStream' },
            'NC.CLOSE': { target: 'closing' },
          },
        },
        reconnecting: {
          description:
            'Enhanced RTMP v2 ReconnectRequest, make-before-break: this connection serves its streams on while the owner opens the new one and moves each stream at a keyframe; then NC.RECONNECT_DONE closes it. reconnectTimeout or NC.RECONNECT_FAILED abandons the move (context.reconnect says why).',
          after: {
            reconnectTimeout: {
              target: 'connected',
              actions: [
                { type: 'recordReconnectAbandoned', params: { reason: 'RECONNECT_TIMEOUT' } },
                { type: 'notifyParent', params: { kind: 'reconnectAbandoned' } },
              ],
            },
          },
          on: {
            'NC.RECONNECT_DONE': { target: 'closing' },
            'NC.RECONNECT_FAILED': {
              target: 'connected',
              actions: { type: 'recordReconnectAbandoned', params: {} },
            },
            'NC.CREATE_STREAM': { actions: 'requestCreateStream' },
            'NC.RELEASE_STREAM': { actions: 'releaseStream' },
            'NC.SEND': { actions: 'forwardToTransport' },
            'RTMP.MESSAGE': [
              { guard: 'isCreateStreamReply', actions: 'answerCreateStream' },
              { guard: 'isForStream', actions: 'routeToStream' },
            ],
            'MEDIA.TICK': { guard: 'hasStreamForTick', actions: 'routeTickToStream' },
            'NC.CLOSE': { target: 'closing' },
          },
        },
        closing: {
          entry: 'closeTransport',
          after: { closeTimeout: { target: '#netConnection.closed' } },
          on: {
            'TRANSPORT.CLOSED': { target: '#netConnection.closed' },
            'TRANSPORT.ERROR': { target: '#netConnection.closed' },
          },
        },
      },
    },
    retrying: {
      description: 'A transient failure: wait retryBackoff, then open a new socket.',
      entry: { type: 'notifyParent', params: { kind: 'down' } },
      initial: 'deciding',
      on: { 'NC.CLOSE': { target: 'closed' } },
      states: {
        deciding: {
          always: [
            { guard: 'canRetry', target: 'waiting' },
            { target: '#netConnection.failed', actions: 'recordRetriesExhausted' },
          ],
        },
        waiting: {
          entry: 'scheduleRetry',
          after: { retryBackoff: { target: '#netConnection.session' } },
        },
      },
    },
    failed: {
      type: 'final',
      description:
        'Refused, broken, or out of attempts: context.failure and context.attempts say why.',
      entry: [
        { type: 'markOutcome', params: { outcome: 'failed' } },
        { type: 'notifyParent', params: { kind: 'failed' } },
      ],
    },
    closed: {
      type: 'final',
      entry: [
        { type: 'markOutcome', params: { outcome: 'closed' } },
        { type: 'notifyParent', params: { kind: 'closed' } },
      ],
    },
  },
  output: ({ context }) => ({
    connectionId: context.connectionId,
    outcome: context.outcome === 'failed' ? 'failed' : 'closed',
    failure: context.failure,
    attempts: context.attempts,
  }),
});
