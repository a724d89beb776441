import { Subject, Subscription } from '../rx';
import { fromCallback } from 'xstate';
import type {
  HandshakeForm,
  HandshakeRole,
  TransportCommand,
  TransportErrorCode,
  TransportEvent,
  TransportTarget,
} from '../../machines/contract';
import { RtmpInboundDecoder, type InboundItem } from '../pipeline/decode';
import { encodeRtmp, type OutboundItem } from '../pipeline/encode';
import { ControlDuties, UNBOUNDED_DUTIES } from '../protocol/controlDuties';
import { AmfError, ChunkError, HandshakeError, MessageError } from '../protocol/errors';
import { HandshakeClient, HandshakeServer } from '../protocol/handshake';
import { resolveLimits, type RtmpLimits } from '../protocol/limits';
import { decodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';
import { MessageTypeId } from '../protocol/types';
import {
  classifyInbound,
  classifyInboundEach,
  sinkKeyFor,
  type InboundRoutes,
  type InboundVisitor,
  visitRoute,
} from './classifyInbound';
import { TransportError } from './errors';
import { isKeyframePayload, isVideoKeyframe } from './keyframeGate';
import type { MediaMessage, MediaRouter, MediaWriter, SubjectSink } from './media';
import { createMediaTicker, MEDIA_TICK_MS } from './mediaTicker';
import { classifySocketError, connectSocket, type ConnectOptions } from './socket';
import { createWriteQueue } from './writeQueue';

/** Options of one transport (one socket). */
export interface TransportInput {
  target: TransportTarget;
  connectTimeoutMs?: number;
  limits?: Partial<RtmpLimits>;
  /** Our outgoing chunk size, announced right after the handshake (default 4096). */
  chunkSize?: number;
  /** Least time between two MEDIA.TICK events for one stream (default MEDIA_TICK_MS). */
  mediaTickMs?: number;
  /** Bytes queued by media consumers above which the socket pauses. */
  highWaterMark?: number;
  /** ... and below which it resumes. */
  lowWaterMark?: number;
  /**
   * What a backed-up consumer does to the socket: 'pause' it (default; nothing is lost, the
   * server buffers or paces), or for live play 'dropToKeyframe': keep reading, drop non-key video
   * until the next keyframe once the backlog passes the high-water mark, and count the drops.
   */
  backpressure?: 'pause' | 'dropToKeyframe';
  /** An already-connected socket (server role, or tests over an in-memory pair). */
  socket?: TransportSocket;
  /**
   * Read batching for live watching (default 0: off, every read as soon as it arrives). After
   * a read that carried audio or video, the socket rests this many milliseconds before it is
   * read again, so that the messages a server writes one by one (nginx-rtmp: one write per
   * message, ~77 a second for a 1 Mbit/s stream) arrive in one read: fewer system calls, fewer
   * callbacks, the same bytes. Media arrives up to this much later; reads that carry no media
   * (handshake, commands) never rest. One timer serves every socket resting the same time.
   */
  readBatchMs?: number;
}

/**
 * What the transport needs of a socket: a `net.Socket` or `tls.TLSSocket`, or an in-memory end
 * (src/testing/memorySocket.ts). Reads arrive as 'data' events or, when the socket was opened
 * with `readInto`, through its `onData`.
 */
export interface TransportSocket {
  readonly destroyed: boolean;
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  pause(): unknown;
  resume(): unknown;
  write(bytes: Uint8Array): boolean;
  end(): unknown;
  destroy(): unknown;
  on(event: 'data', listener: (bytes: Buffer) => void): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * Opens the socket of TRANSPORT.OPEN and calls `done` once: with the connected socket, or with
 * the error (classified by classifySocketError). The default connects over TCP/TLS.
 */
export type TransportConnector = (
  target: TransportTarget,
  options: ConnectOptions,
  done: (err: unknown, socket?: TransportSocket) => void,
) => void;

/** The runtime's connector: `connectSocket` (TCP, or TLS for rtmps). */
export const connectOverNetwork: TransportConnector = (target, options, done) => {
  connectSocket(target, options).then(
    (s) => done(undefined, s),
    (err: unknown) => done(err),
  );
};

/** What a transport shares with the rest of the session. */
export interface TransportDeps {
  router: MediaRouter;
  clock?: () => number;
  random?: (n: number) => Uint8Array;
  /** Counts every transport's bytes in and out (for progress and metrics). */
  onBytes?: (bytesIn: number, bytesOut: number) => void;
  /**
   * Every socket error as a TransportError (code, errno, host and port), with the id of the
   * actor that owns the transport (the NetConnection, `connection-<n>`): the machines only see
   * its code and message, the session keeps the error itself as a failed stream's `cause`.
   */
  onError?: (error: TransportError, ownerId: string | undefined) => void;
  /** How TRANSPORT.OPEN opens its socket (default `connectOverNetwork`). */
  connect?: TransportConnector;
}

/**
 * Every plain-TCP transport of the process reads into this one buffer (allocated on first use):
 * JavaScript runs one read callback at a time and the pipeline copies whatever it keeps before
 * the callback returns, so one buffer serves any number of sockets. 1 MiB: a fast VOD download
 * drains up to that much per read (fewer, larger reads), and a thousand live sockets cost
 * nothing more. rtmps and sockets handed in (`input.socket`) use 'data' events instead.
 */
const SHARED_READ_BUFFER_SIZE = 1 << 20;
let sharedReadBuffer: Uint8Array | undefined;
function readBuffer(): Uint8Array {
  sharedReadBuffer ??= new Uint8Array(SHARED_READ_BUFFER_SIZE);
  return sharedReadBuffer;
}

/**
 * Sockets resting between batched reads (`readBatchMs`), by resting time: one timer per
 * distinct time resumes all of them, whatever the number of sockets.
 */
const restingGroups = new Map<number, { resume: Array<() => void>; timer: NodeJS.Timeout }>();
function restThenResume(ms: number, resume: () => void): void {
  let group = restingGroups.get(ms);
  if (!group) {
    const created = {
      resume: [] as Array<() => void>,
      timer: setTimeout(() => {
        restingGroups.delete(ms);
        for (const f of created.resume) f();
      }, ms),
    };
    restingGroups.set(ms, created);
    group = created;
  }
  group.resume.push(resume);
}

function isControl(message: RtmpMessage): boolean {
  return message.type !== 'Audio' && message.type !== 'Video' && message.type !== 'Data';
}

function protocolErrorCode(err: unknown): TransportErrorCode {
  if (err instanceof ChunkError) {
    return err.code === 'UNKNOWN_CHUNK_STREAM' ||
      err.code === 'BAD_CSID' ||
      err.code === 'LENGTH_MISMATCH'
      ? 'PROTOCOL'
      : 'LIMIT';
  }
  if (err instanceof AmfError)
    return err.code === 'TOO_DEEP' ||
      err.code === 'STRING_TOO_LONG' ||
      err.code === 'TOO_MANY_ENTRIES'
      ? 'LIMIT'
      : 'PROTOCOL';
  return 'PROTOCOL';
}

/** What `fromCallback` hands the transport (and what a test may hand it directly). */
export interface TransportCallbackParams {
  input: unknown;
  sendBack: (event: TransportEvent) => void;
  receive: (listener: (command: TransportCommand) => void) => void;
  /** The transport's own actor ref: its parent's id names the transport in errors. */
  self?: unknown;
}

/**
 * The one place a NetConnection touches a socket: TCP/TLS, the handshake codec, the chunk
 * pipeline, acknowledgements and media routing. Implements `machines/contract.ts`. The body of
 * the transport actor, callable without an actor (a test wires `sendBack` and `receive`
 * itself); returns the clean-up. It composes the units: the write queue (writeQueue.ts), the
 * media ticker (mediaTicker.ts), the keyframe gate (keyframeGate.ts), the control duties
 * (src/protocol/controlDuties.ts, shared with the server) and `classifyInbound` (classifyInbound.ts).
 */
export function runTransport(
  deps: TransportDeps,
  { input: rawInput, sendBack, receive, self }: TransportCallbackParams,
): () => void {
  const clock = deps.clock ?? Date.now;
  const connect = deps.connect ?? connectOverNetwork;
  // The NetConnection passes its `transport` input through untyped (`unknown`): it is ours.
  const input = rawInput as TransportInput;
  const ownerId = (self as { _parent?: { id?: string } } | undefined)?._parent?.id;
  const reportError = (e: TransportError): void => deps.onError?.(e, ownerId);
  const limits = resolveLimits(input.limits);
  const highWater = input.highWaterMark ?? 8 * 1024 * 1024;
  const lowWater = Math.min(input.lowWaterMark ?? 1024 * 1024, highWater / 2);
  let socket: TransportSocket | undefined;
  let closedByUs = false;
  let finished = false;
  let pausedForBacklog = false;
  const streams = new Map<number, string>();
  const writers = new Map<string, MediaWriter>();
  const subs = new Subscription();
  const outbound = new Subject<OutboundItem>();
  let pendingHandshakeStart: { role: HandshakeRole; form: HandshakeForm } | undefined;
  let role: HandshakeRole = 'client';
  const routes: InboundRoutes = {
    streams,
    hasSink: (key) => deps.router.get(key) !== undefined,
    get role() {
      return role;
    },
  };
  /**
   * The inbound pipeline (handshake, chunks, messages), called straight from the socket
   * callback once it runs; before that reads wait in `early` (copied). After it failed, or
   * once the transport is torn down, reads are ignored.
   */
  let inbound: RtmpInboundDecoder | undefined;
  let inboundStopped = false;
  const early: Uint8Array[] = [];
  /** Whether reads arrive as views of the shared read buffer (see `readBuffer`). */
  let readsReused = false;
  const feed = (bytes: Uint8Array): void => {
    if (inboundStopped || !inbound) return;
    try {
      inbound.push(bytes);
    } catch (err) {
      inboundStopped = true;
      onPipelineError(err);
    }
  };
  const readBatchMs = Math.max(0, input.readBatchMs ?? 0);
  /** Audio or video was delivered during the current read (`readBatchMs`). */
  let readCarriedMedia = false;
  /** The socket rests between batched reads. */
  let resting = false;
  const resumeAfterRest = (): void => {
    resting = false;
    if (!finished && !pausedForBacklog && socket && !socket.destroyed) socket.resume();
  };
  const onRead = (bytes: Uint8Array): void => {
    deps.onBytes?.(bytes.byteLength, 0);
    if (inbound) feed(bytes);
    else early.push(readsReused ? bytes.slice() : bytes);
    if (readCarriedMedia) {
      readCarriedMedia = false;
      if (!resting && !pausedForBacklog && !finished && socket && !socket.destroyed) {
        resting = true;
        socket.pause();
        restThenResume(readBatchMs, resumeAfterRest);
      }
    }
  };

  const send = (event: TransportEvent): void => {
    if (!finished) sendBack(event);
  };

  const fail = (code: TransportErrorCode, message: string): void => {
    if (!finished) reportError(new TransportError(code, message));
    send({ type: 'TRANSPORT.ERROR', code, message });
    finished = true;
    socket?.destroy();
  };

  // ------------------------------------------------------------------ outbound: the write queue
  const queue = createWriteQueue(
    () => socket,
    (n) => deps.onBytes?.(0, n),
  );
  let writingControl = true;
  subs.add(
    outbound.pipe(encodeRtmp(128)).subscribe({
      next: (bytes) => queue.write(bytes, writingControl),
      error: (err) => fail('PROTOCOL', `could not encode a message: ${(err as Error).message}`),
    }),
  );
  const sendItem = (item: OutboundItem, control: boolean): void => {
    writingControl = control;
    outbound.next(item);
  };

  // ------------------------------------------------------------------ control duties
  // The acknowledgement window, shared with the embedded server (src/protocol/controlDuties);
  // the client sets no bounds on what its server asks.
  const duties = new ControlDuties(UNBOUNDED_DUTIES, clock());

  // ------------------------------------------------------------------ inbound: media
  const ticker = createMediaTicker({
    emit: send,
    clock,
    tickMs: input.mediaTickMs ?? MEDIA_TICK_MS,
  });

  const sinkFor = (streamId: number): SubjectSink | undefined => {
    const key = sinkKeyFor(routes, streamId);
    return key === undefined ? undefined : deps.router.get(key);
  };

  const checkBacklog = (sink: SubjectSink): void => {
    if (!pausedForBacklog && sink.backlog() > highWater && socket) {
      pausedForBacklog = true;
      socket.pause();
      const off = sink.onDrain(() => {
        if (sink.backlog() <= lowWater) {
          off();
          pausedForBacklog = false;
          socket?.resume();
        }
      });
    }
  };

  /** Audio and video of a stream nobody takes as owned (`media$`) are lent by the decoder. */
  const lend = (typeId: number, streamId: number): boolean =>
    (typeId === MessageTypeId.Audio || typeId === MessageTypeId.Video) &&
    sinkFor(streamId)?.canLend() === true;

  const dropPolicy = input.backpressure === 'dropToKeyframe';
  /**
   * Live policy (the sink's keyframe gate): from the high-water mark on, non-key video waits for
   * the next keyframe, which passes once the backlog is below the low-water mark.
   */
  const dropsVideo = (sink: SubjectSink, message: MediaMessage): boolean => {
    const backlog = sink.backlog();
    if (!sink.keyframeGate.waiting && backlog > highWater && !isVideoKeyframe(message)) {
      sink.keyframeGate.close();
    }
    return !sink.keyframeGate.admit(message, backlog <= lowWater);
  };

  const deliverMedia = (sink: SubjectSink, message: MediaMessage, lent: boolean): void => {
    if (dropPolicy && message.type === 'Video' && dropsVideo(sink, message)) {
      sink.dropped++;
      return;
    }
    if (lent) sink.lend(message);
    else sink.next(message);
    // Only audio and video are media flowing: |RtmpSampleAccess or onMetaData alone (what
    // nginx-rtmp sends a play of a name nobody publishes) must not make a play `flowing`.
    if (message.type !== 'Data') {
      if (readBatchMs > 0) readCarriedMedia = true;
      ticker.media(
        message.streamId,
        message.timestamp,
        message.type === 'Video' && isKeyframePayload(message.payload),
      );
    }
    if (!dropPolicy) checkBacklog(sink);
  };

  /** Where each inbound message goes (classifyInboundEach: nothing allocated per message). */
  let lentNow = false;
  const toSink = (message: MediaMessage, sinkKey: string): void => {
    const sink = deps.router.get(sinkKey);
    if (sink) deliverMedia(sink, message, lentNow);
  };
  const visitor: InboundVisitor = {
    media: toSink,
    data: toSink,
    machines: (message) => send({ type: 'RTMP.MESSAGE', message }),
    dropped: () => undefined,
  };
  const onMessage = (message: RtmpMessage, lent: boolean): void => {
    if (message.type !== 'Aggregate') {
      lentNow = lent;
      classifyInboundEach(message, routes, visitor);
      return;
    }
    // An aggregate's messages are all placed before any is delivered, and none is lent (the
    // decoder lends only the message it reassembled).
    lentNow = false;
    for (const route of classifyInbound(message, routes)) visitRoute(route, visitor);
  };

  const onInbound = (item: InboundItem): void => {
    switch (item.kind) {
      case 'handshake':
        if (item.step === 'peerHello') {
          send({
            type: 'HANDSHAKE.PEER_HELLO',
            version: item.version ?? 3,
            form: item.form ?? 'simple',
          });
        } else {
          send({ type: 'HANDSHAKE.PEER_ECHO' });
        }
        return;
      case 'reply':
        queue.write(item.bytes, true);
        return;
      case 'bytes': {
        const due = duties.bytesReceived(item.total);
        if (due !== undefined) send({ type: 'TRANSPORT.ACK_DUE', sequenceNumber: due });
        return;
      }
      case 'message':
        onMessage(decodeMessage(item.message, limits), item.message.lent === true);
        return;
    }
  };

  // ------------------------------------------------------------------ socket and pipeline
  const startPipeline = (role: HandshakeRole, form: HandshakeForm): void => {
    if (!socket) return;
    const handshake =
      role === 'client'
        ? new HandshakeClient({ form, clock, random: deps.random })
        : new HandshakeServer({ clock, random: deps.random });
    const s = socket;
    inbound = new RtmpInboundDecoder(
      (item) => {
        try {
          onInbound(item);
        } catch (err) {
          onPipelineError(err);
        }
      },
      { handshake, limits, reportBytes: true, reusedInput: readsReused, lend },
    );
    if (role === 'client') queue.write((handshake as HandshakeClient).start(), true);
    for (const bytes of early.splice(0)) feed(bytes);
    s.resume();
  };

  const onPipelineError = (err: unknown): void => {
    if (
      err instanceof HandshakeError &&
      (err.code === 'BAD_VERSION' || err.code === 'BAD_DIGEST' || err.code === 'BAD_ECHO')
    ) {
      send({ type: 'HANDSHAKE.FAILED', code: err.code, message: err.message });
      finished = true;
      socket?.destroy();
      return;
    }
    if (err instanceof ChunkError || err instanceof AmfError || err instanceof MessageError) {
      fail(protocolErrorCode(err), `${err.name} ${err.code}: ${err.message}`);
      return;
    }
    fail('PROTOCOL', (err as Error)?.message ?? String(err));
  };

  /** `viaReadBuffer`: the socket was opened with `readInto` (reads arrive through `onRead`). */
  const attach = (s: TransportSocket, viaReadBuffer: boolean): void => {
    socket = s;
    s.pause();
    if (!viaReadBuffer) s.on('data', onRead);
    s.on('drain', queue.flush);
    s.on('error', (err) => {
      const e = classifySocketError(err);
      if (!closedByUs && !finished) reportError(e);
      if (!closedByUs) send({ type: 'TRANSPORT.ERROR', code: e.code, message: e.message });
    });
    s.on('close', () => {
      send({ type: 'TRANSPORT.CLOSED', byPeer: !closedByUs });
      finished = true;
    });
    if (pendingHandshakeStart) {
      startPipeline(pendingHandshakeStart.role, pendingHandshakeStart.form);
      pendingHandshakeStart = undefined;
    }
  };

  /** The writer a publishing stream's media leaves through (TRANSPORT.ROUTE_MEDIA). */
  const writerFor = (streamId: number): MediaWriter => ({
    write: (message) => {
      sendItem(
        {
          kind: 'message',
          message: { ...message, streamId, csid: undefined } as RtmpMessage,
        },
        false,
      );
      return !!socket && !socket.writableNeedDrain && queue.mediaQueued === 0;
    },
    queued: () => queue.queuedBytes(),
    drained: () =>
      new Promise<void>((resolve) => {
        // Our own queues refill the socket on 'drain': wait until both are empty.
        const check = (): void => {
          const s = socket;
          if (!s || s.destroyed || finished) return resolve();
          if (!s.writableNeedDrain && queue.empty) return resolve();
          const again = (): void => {
            s.off('drain', again);
            s.off('close', again);
            setImmediate(check);
          };
          s.on('drain', again);
          s.on('close', again);
        };
        check();
      }),
  });

  receive((command) => {
    if (finished) return;
    switch (command.type) {
      case 'TRANSPORT.OPEN':
        if (input.socket) {
          attach(input.socket, false);
          send({ type: 'TRANSPORT.CONNECTED' });
          return;
        }
        // Plain TCP reads into the shared buffer; rtmps reads its 'data' events.
        readsReused = input.target.protocol !== 'rtmps';
        connect(
          input.target,
          {
            timeoutMs: input.connectTimeoutMs ?? 10_000,
            ...(readsReused ? { readInto: { buffer: readBuffer(), onData: onRead } } : {}),
          },
          (err, s) => {
            if (!s) {
              const e = classifySocketError(err);
              if (!finished) reportError(e);
              send({ type: 'TRANSPORT.ERROR', code: e.code, message: e.message });
              return;
            }
            if (finished || closedByUs) {
              s.destroy();
              return;
            }
            attach(s, readsReused);
            send({ type: 'TRANSPORT.CONNECTED' });
          },
        );
        return;
      case 'TRANSPORT.HANDSHAKE_START':
        role = command.role;
        if (socket) startPipeline(command.role, command.form);
        else pendingHandshakeStart = { role: command.role, form: command.form };
        return;
      case 'TRANSPORT.SEND':
        sendItem({ kind: 'message', message: command.message }, isControl(command.message));
        return;
      case 'TRANSPORT.SET_CHUNK_SIZE':
        // Never ahead of media already encoded with the old size.
        sendItem({ kind: 'setChunkSize', chunkSize: command.chunkSize }, queue.mediaQueued === 0);
        return;
      case 'TRANSPORT.SET_ACK_WINDOW':
        duties.setAckWindow(command.windowSize);
        return;
      case 'TRANSPORT.ROUTE_MEDIA': {
        streams.set(command.streamId, command.sinkKey);
        const writer = writerFor(command.streamId);
        writers.set(command.sinkKey, writer);
        deps.router.attachWriter(command.sinkKey, writer);
        return;
      }
      case 'TRANSPORT.UNROUTE_MEDIA':
        if (streams.get(command.streamId) === command.sinkKey) {
          streams.delete(command.streamId);
          ticker.forget(command.streamId);
        }
        deps.router.detachWriter(command.sinkKey, writers.get(command.sinkKey));
        writers.delete(command.sinkKey);
        return;
      case 'TRANSPORT.CLOSE':
        closedByUs = true;
        if (!socket || socket.destroyed) {
          send({ type: 'TRANSPORT.CLOSED', byPeer: false });
          finished = true;
          return;
        }
        queue.flush();
        socket.end();
        setTimeout(() => socket?.destroy(), 2000).unref();
        return;
    }
  });

  return () => {
    ticker.stop();
    for (const [key, w] of writers) deps.router.detachWriter(key, w);
    finished = true;
    closedByUs = true;
    subs.unsubscribe();
    outbound.complete();
    inboundStopped = true;
    socket?.destroy();
  };
}

/** The transport actor logic a NetConnection invokes as `transport` (see `runTransport`). */
export function createTransportLogic(deps: TransportDeps) {
  return fromCallback<TransportCommand, unknown>(({ input, sendBack, receive, self }) =>
    runTransport(deps, { input, sendBack, receive, self }),
  );
}

/** Each session's transport dependencies, by the actor system its actors run in. */
const depsBySystem = new WeakMap<object, TransportDeps>();

/**
 * Gives the actors of `system` (a session's supervisor and everything it runs) `deps` for their
 * transports (see `systemTransportLogic`). Call it before the root actor starts.
 */
export function bindTransportDeps(system: object, deps: TransportDeps): void {
  depsBySystem.set(system, deps);
}

/**
 * The transport actor logic for machines shared by many sessions: it runs with the dependencies
 * bound to its actor system (`bindTransportDeps`). A session then needs no machine of its own:
 * `.provide()` builds a whole new machine (every state node and transition again: about 50 KB
 * and a millisecond per session), so the client provides its machines once per process.
 */
export const systemTransportLogic = fromCallback<TransportCommand, unknown>(
  ({ input, sendBack, receive, self, system }) => {
    const deps = depsBySystem.get(system);
    // A programming error (the runtime binds every session's system before it starts).
    if (!deps) throw new Error('no transport dependencies bound to this actor system');
    return runTransport(deps, { input, sendBack, receive, self });
  },
);
