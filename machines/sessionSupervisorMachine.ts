/**
 * The session supervisor: owns a pool of NetConnection actors (`connection-0`, `connection-1`, ...)
 * and one NetStream actor per requested stream (`stream-<key>`). A request's key is its stream
 * name, or `<name>#2`, `#3`, ... when that name is already open (the same name played twice,
 * live and recorded, say): the key names the actor and the stream in the context, the events and
 * the media sink, the name goes on the wire. It puts streams on connections
 * (many per connection where the server allows it), learns in 'auto' mode when a server serves
 * one stream per connection (nginx-rtmp, node-media-server) and moves the stream that showed it to
 * a connection of its own, interrupts and resumes streams when a connection drops and comes
 * back, enforces `maxStreams` / `maxConnections`, and closes everything in order on SESSION.CLOSE.
 *
 * `context.connections` and `context.streams` are the aggregated view of the session.
 */
import { emit, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { ConnectionNotification, StatusReply } from './contract';
import { netConnectionMachine, type NetConnectionInput } from './netConnectionMachine';
import {
  netStreamMachine,
  type NetStreamInput,
  type NetStreamNotification,
  type NetStreamTimeouts,
  type PlayOptions,
  type PublishOptions,
  type StreamMode,
} from './netStreamMachine';

export type StreamsPerConnection = 'auto' | 'one' | 'many';

export interface SessionSupervisorInput {
  /** Options of every NetConnection (transport input, connect command object, timeouts, retry). */
  connection: Omit<NetConnectionInput, 'connectionId' | 'autostart'>;
  /** Default 'auto': share connections until the server shows it serves one stream each. */
  streamsPerConnection?: StreamsPerConnection;
  /** Most streams at once. Default 64. */
  maxStreams?: number;
  /** Most connections at once. Default 16. */
  maxConnections?: number;
  /** Timeouts of every stream. */
  streamTimeouts?: Partial<NetStreamTimeouts>;
  /** Longest orderly shutdown on SESSION.CLOSE before the supervisor gives up. Default 10 000. */
  closeTimeoutMs?: number;
}

export type ConnectionState = 'connecting' | 'up' | 'down' | 'closing' | 'failed';

export interface ConnectionSummary {
  id: string;
  state: ConnectionState;
  /** Keys of the streams placed on this connection. */
  streams: string[];
  ref: ActorRefFrom<typeof netConnectionMachine> | undefined;
}

export type StreamState =
  | 'waiting'
  | 'starting'
  | 'active'
  /** A transient failure: the stream waits its backoff and plays again (see PlayOptions.retry). */
  | 'retrying'
  | 'interrupted'
  | 'stopping'
  | 'failed';

export interface StreamRequestOptions {
  play?: PlayOptions;
  publish?: PublishOptions;
  /** Media sink key (default: the stream key). */
  sinkKey?: string;
}

export interface StreamSummary {
  /** What the session calls the stream: its name, or `<name>#<n>` for another one of that name. */
  key: string;
  /** The stream name sent in play/publish. */
  name: string;
  mode: StreamMode;
  options: StreamRequestOptions;
  connectionId: string | undefined;
  state: StreamState;
  reason?: string;
  status?: StatusReply;
  /** While `retrying`: failed attempts in a row; once `failed` (RETRIES_EXHAUSTED): all of them. */
  attempt?: number;
  /** RETRIES_EXHAUSTED: why the last attempt failed. */
  lastReason?: string;
  /** How often the stream moved to another connection. */
  moves: number;
  ref: ActorRefFrom<typeof netStreamMachine> | undefined;
}

export interface SessionSupervisorContext {
  options: {
    connection: SessionSupervisorInput['connection'];
    streamsPerConnection: StreamsPerConnection;
    maxStreams: number;
    maxConnections: number;
    streamTimeouts: Partial<NetStreamTimeouts>;
    closeTimeoutMs: number;
  };
  /** 'shared': streams share connections; 'single': one stream per connection. */
  sharing: 'shared' | 'single';
  connections: Record<string, ConnectionSummary>;
  nextConnectionIndex: number;
  /** By stream key. */
  streams: Record<string, StreamSummary>;
}

/** Why a request was refused: a limit, or an explicit key that an open stream already has. */
export type SessionRefusal = 'MAX_STREAMS' | 'MAX_CONNECTIONS' | 'DUPLICATE_KEY';

export type SessionSupervisorEvent =
  /** Play `name`; `key` (default: the first free of `name`, `name#2`, `name#3`...) names it. */
  | { type: 'SESSION.PLAY'; name: string; key?: string; options?: StreamRequestOptions }
  | { type: 'SESSION.PUBLISH'; name: string; key?: string; options?: StreamRequestOptions }
  | { type: 'SESSION.STOP_STREAM'; key: string }
  | { type: 'SESSION.CLOSE' }
  | ConnectionNotification
  | NetStreamNotification;

export type SessionSupervisorEmitted =
  | { type: 'session.error'; reason: SessionRefusal; key: string; name: string; message: string }
  | { type: 'session.sharing'; sharing: 'shared' | 'single'; because: string }
  | { type: 'session.stream'; key: string; name: string; state: StreamState | 'stopped' }
  | { type: 'session.connection'; id: string; state: ConnectionState | 'closed' };

export interface SessionSupervisorOutput {
  /** By stream key. */
  streams: Record<string, Omit<StreamSummary, 'ref'>>;
  connections: Record<string, Omit<ConnectionSummary, 'ref'>>;
}

const LIVE_CONNECTION: ReadonlySet<ConnectionState> = new Set(['connecting', 'up', 'down']);
const LIVE_STREAM: ReadonlySet<StreamState> = new Set([
  'waiting',
  'starting',
  'active',
  'retrying',
  'interrupted',
  'stopping',
]);
/** Streams a lost connection interrupts. */
const INTERRUPTIBLE: ReadonlySet<StreamState> = new Set(['starting', 'active', 'retrying']);
const RELOCATING_REASONS: ReadonlySet<string> = new Set(['START_TIMEOUT', 'STREAM_ID_IN_USE']);

type Ctx = SessionSupervisorContext;

/** `connection-12` -> 12 (a plain numeric sort: this runs once per new stream). */
function connectionIndex(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

function liveStreams(context: Ctx): StreamSummary[] {
  return Object.values(context.streams).filter((s) => LIVE_STREAM.has(s.state));
}

function isLiveKey(context: Ctx, key: string): boolean {
  const s = context.streams[key];
  return s !== undefined && LIVE_STREAM.has(s.state);
}

/**
 * The key of a new request of `name`: the name itself while no open stream has it, else the
 * first of `<name>#2`, `<name>#3`, ... that none has. The client picks keys with it too.
 */
export function streamKeyFor(name: string, inUse: (key: string) => boolean): string {
  if (!inUse(name)) return name;
  let n = 2;
  while (inUse(`${name}#${n}`)) n++;
  return `${name}#${n}`;
}

function liveConnections(context: Ctx): ConnectionSummary[] {
  return Object.values(context.connections).filter((c) => LIVE_CONNECTION.has(c.state));
}

/**
 * Where a new stream goes: an existing live connection when the sharing mode allows (a shared
 * one, or an empty one in 'single' mode), else a new connection (undefined id) when the pool has
 * room, else nowhere (null).
 */
export function chooseConnection(
  context: Ctx,
  exclude?: string,
): { id: string | undefined } | null {
  const candidates = liveConnections(context)
    .filter((c) => c.id !== exclude)
    .sort((a, b) => connectionIndex(a.id) - connectionIndex(b.id));
  const reusable =
    context.sharing === 'shared' ? candidates[0] : candidates.find((c) => c.streams.length === 0);
  if (reusable) return { id: reusable.id };
  if (liveConnections(context).length < context.options.maxConnections) return { id: undefined };
  return null;
}

type StreamRequest = Extract<SessionSupervisorEvent, { type: 'SESSION.PLAY' | 'SESSION.PUBLISH' }>;

/** A play or publish request: its explicit key, or the first free one of its name. */
function requestOf(
  context: Ctx,
  event: SessionSupervisorEvent,
): { key: string; name: string; mode: StreamMode; options: StreamRequestOptions } {
  const e = event as StreamRequest;
  const name = typeof e.name === 'string' ? e.name : '';
  return {
    key: e.key ?? streamKeyFor(name, (k) => isLiveKey(context, k)),
    name,
    mode: e.type === 'SESSION.PUBLISH' ? 'publish' : 'play',
    options: e.options ?? {},
  };
}

function withoutStream(
  connections: Record<string, ConnectionSummary>,
  connectionId: string | undefined,
  key: string,
): Record<string, ConnectionSummary> {
  if (connectionId === undefined || !connections[connectionId]) return connections;
  const c = connections[connectionId];
  return { ...connections, [connectionId]: { ...c, streams: c.streams.filter((k) => k !== key) } };
}

function withStream(
  connections: Record<string, ConnectionSummary>,
  connectionId: string,
  key: string,
): Record<string, ConnectionSummary> {
  const c = connections[connectionId];
  return { ...connections, [connectionId]: { ...c, streams: [...c.streams, key] } };
}

/** The input of a new NetConnection actor `id`. */
function connectionInput(context: Ctx, id: string): NetConnectionInput {
  return { ...context.options.connection, connectionId: id, autostart: true };
}

/** The input of a NetStream actor for `stream` on connection `connectionId`. */
function streamInput(
  context: Ctx,
  stream: { name: string; key: string; mode: StreamMode; options: StreamRequestOptions },
  connectionId: string,
): NetStreamInput {
  return {
    name: stream.name,
    key: stream.key,
    mode: stream.mode,
    connection: context.connections[connectionId].ref!,
    timeouts: context.options.streamTimeouts,
    ...(context.options.connection.random ? { random: context.options.connection.random } : {}),
    ...stream.options,
  };
}

function omitKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(record)) if (k !== key) out[k] = v;
  return out;
}

export const sessionSupervisorMachine = setup({
  types: {
    context: {} as SessionSupervisorContext,
    events: {} as SessionSupervisorEvent,
    input: {} as SessionSupervisorInput,
    output: {} as SessionSupervisorOutput,
    emitted: {} as SessionSupervisorEmitted,
  },
  actors: {
    connection: netConnectionMachine,
    stream: netStreamMachine,
  },
  actions: {
    refuseStream: emit(({ context, event }, params: { reason: SessionRefusal }) => {
      const { key, name } = requestOf(context, event);
      const message =
        params.reason === 'MAX_STREAMS'
          ? `stream "${key}" refused: maxStreams (${context.options.maxStreams}) reached`
          : params.reason === 'MAX_CONNECTIONS'
            ? `stream "${key}" refused: maxConnections (${context.options.maxConnections}) reached`
            : `stream key "${key}" is already open`;
      return { type: 'session.error' as const, reason: params.reason, key, name, message };
    }),
    /** Places the requested stream on a connection (spawning one if needed) and spawns it. */
    startStream: enqueueActions(({ context, event, enqueue }) => {
      const { key, name, mode, options } = requestOf(context, event);
      const choice = chooseConnection(context);
      if (!choice) return;
      let connectionId = choice.id;
      if (connectionId === undefined) {
        connectionId = `connection-${context.nextConnectionIndex}`;
        const id = connectionId;
        enqueue.assign({
          nextConnectionIndex: context.nextConnectionIndex + 1,
          connections: ({ context: c, spawn }) => ({
            ...c.connections,
            [id]: {
              id,
              state: 'connecting',
              streams: [],
              ref: spawn('connection', { id, input: connectionInput(c, id) }),
            },
          }),
        });
        enqueue.emit({ type: 'session.connection', id, state: 'connecting' });
      }
      const connId = connectionId;
      enqueue.assign({
        streams: ({ context: c, spawn }) => {
          const conn = c.connections[connId];
          return {
            ...c.streams,
            [key]: {
              key,
              name,
              mode,
              options,
              connectionId: connId,
              state: conn.state === 'up' ? 'starting' : 'waiting',
              moves: 0,
              ref: spawn('stream', {
                id: `stream-${key}`,
                input: streamInput(c, { name, key, mode, options }, connId),
              }),
            },
          };
        },
        connections: ({ context: c }) => withStream(c.connections, connId, key),
      });
      // Not connected yet: CONNECTION.UP starts it.
      const up = context.connections[connId]?.state === 'up';
      if (up) enqueue.sendTo(({ context: c }) => c.streams[key].ref!, { type: 'STREAM.START' });
      enqueue.emit({ type: 'session.stream', key, name, state: up ? 'starting' : 'waiting' });
    }),
    stopStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SESSION.STOP_STREAM') return;
      const stream = context.streams[event.key];
      if (!stream || !stream.ref) return;
      const { key, name } = stream;
      enqueue.sendTo(stream.ref, { type: 'STREAM.STOP' });
      enqueue.assign({
        streams: { ...context.streams, [key]: { ...stream, state: 'stopping' } },
      });
      enqueue.emit({ type: 'session.stream', key, name, state: 'stopping' });
    }),
    /** A connection is up: start its waiting streams, resume its interrupted ones. */
    connectionUp: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.UP') return;
      const conn = context.connections[event.connectionId];
      if (!conn) return;
      const streams = { ...context.streams };
      for (const key of conn.streams) {
        const s = streams[key];
        if (!s?.ref) continue;
        if (s.state === 'waiting') {
          enqueue.sendTo(s.ref, { type: 'STREAM.START' });
        } else if (s.state === 'interrupted') {
          enqueue.sendTo(s.ref, { type: 'NC.RESTORED', connection: conn.ref });
        } else {
          continue;
        }
        streams[key] = { ...s, state: 'starting' };
      }
      enqueue.assign({
        connections: { ...context.connections, [conn.id]: { ...conn, state: 'up' } },
        streams,
      });
      enqueue.emit({ type: 'session.connection', id: conn.id, state: 'up' });
    }),
    /** A connection dropped (it retries by itself): interrupt its streams. */
    connectionDown: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.DOWN') return;
      const conn = context.connections[event.connectionId];
      if (!conn) return;
      const streams = { ...context.streams };
      for (const key of conn.streams) {
        const s = streams[key];
        if (!s?.ref || !INTERRUPTIBLE.has(s.state)) continue;
        enqueue.sendTo(s.ref, { type: 'NC.INTERRUPTED' });
        streams[key] = { ...s, state: 'interrupted' };
      }
      enqueue.assign({
        connections: { ...context.connections, [conn.id]: { ...conn, state: 'down' } },
        streams,
      });
      enqueue.emit({ type: 'session.connection', id: conn.id, state: 'down' });
    }),
    /** A connection failed for good: its streams fail with it. */
    connectionFailed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.FAILED') return;
      const conn = context.connections[event.connectionId];
      if (!conn) return;
      for (const key of conn.streams) {
        const s = context.streams[key];
        if (s?.ref) enqueue.sendTo(s.ref, { type: 'NC.FAILED', reason: event.reason });
      }
      enqueue.stopChild(conn.id);
      enqueue.assign({
        connections: {
          ...context.connections,
          [conn.id]: { ...conn, state: 'failed', ref: undefined },
        },
      });
      enqueue.emit({ type: 'session.connection', id: conn.id, state: 'failed' });
    }),
    forgetConnection: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.CLOSED') return;
      const conn = context.connections[event.connectionId];
      if (!conn) return;
      enqueue.stopChild(conn.id);
      enqueue.assign({ connections: omitKey(context.connections, conn.id) });
      enqueue.emit({ type: 'session.connection', id: conn.id, state: 'closed' });
    }),
    markStreamActive: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.ACTIVE') return;
      const s = context.streams[event.key];
      if (!s) return;
      const { reason: _reason, status: _status, attempt: _attempt, ...rest } = s;
      enqueue.assign({ streams: { ...context.streams, [s.key]: { ...rest, state: 'active' } } });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'active' });
    }),
    /** A stream waits its backoff after a transient failure (it retries by itself). */
    markStreamRetrying: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.RETRYING') return;
      const s = context.streams[event.key];
      if (!s || !s.ref) return;
      enqueue.assign({
        streams: {
          ...context.streams,
          [s.key]: { ...s, state: 'retrying', reason: event.reason, attempt: event.attempt },
        },
      });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'retrying' });
    }),
    /**
     * The server serves one stream per connection: switch the session to 'single' and move the
     * stream to a connection of its own (a new actor for it, same id).
     */
    relocateStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.FAILED') return;
      const s = context.streams[event.key];
      if (!s) return;
      const single: Ctx = {
        ...context,
        sharing: 'single',
        connections: withoutStream(context.connections, s.connectionId, s.key),
      };
      const choice = chooseConnection(single, s.connectionId);
      if (!choice) return;
      enqueue.stopChild(`stream-${s.key}`);
      enqueue.assign({ sharing: 'single', connections: single.connections });
      enqueue.emit({ type: 'session.sharing', sharing: 'single', because: event.reason });
      let connectionId = choice.id;
      if (connectionId === undefined) {
        connectionId = `connection-${context.nextConnectionIndex}`;
        const id = connectionId;
        enqueue.assign({
          nextConnectionIndex: context.nextConnectionIndex + 1,
          connections: ({ context: c, spawn }) => ({
            ...c.connections,
            [id]: {
              id,
              state: 'connecting',
              streams: [],
              ref: spawn('connection', { id, input: connectionInput(c, id) }),
            },
          }),
        });
        enqueue.emit({ type: 'session.connection', id, state: 'connecting' });
      }
      const connId = connectionId;
      enqueue.assign({
        streams: ({ context: c, spawn }) => ({
          ...c.streams,
          [s.key]: {
            ...s,
            connectionId: connId,
            state: c.connections[connId].state === 'up' ? 'starting' : 'waiting',
            moves: s.moves + 1,
            ref: spawn('stream', { id: `stream-${s.key}`, input: streamInput(c, s, connId) }),
          },
        }),
        connections: ({ context: c }) => withStream(c.connections, connId, s.key),
      });
      const up = context.connections[connId]?.state === 'up';
      if (up) enqueue.sendTo(({ context: c }) => c.streams[s.key].ref!, { type: 'STREAM.START' });
      enqueue.emit({
        type: 'session.stream',
        key: s.key,
        name: s.name,
        state: up ? 'starting' : 'waiting',
      });
    }),
    recordStreamFailure: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.FAILED') return;
      const s = context.streams[event.key];
      if (!s) return;
      enqueue.stopChild(`stream-${s.key}`);
      const failed: StreamSummary = {
        ...s,
        state: 'failed',
        reason: event.reason,
        ref: undefined,
        connectionId: undefined,
      };
      if (event.status) failed.status = event.status;
      if (event.attempts !== undefined) failed.attempt = event.attempts;
      if (event.lastReason) failed.lastReason = event.lastReason;
      enqueue.assign({
        streams: { ...context.streams, [s.key]: failed },
        connections: withoutStream(context.connections, s.connectionId, s.key),
      });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'failed' });
    }),
    /** A stream stopped: forget it. */
    forgetStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.STOPPED' && event.type !== 'STREAM.FAILED') return;
      const s = context.streams[event.key];
      if (!s) return;
      enqueue.stopChild(`stream-${s.key}`);
      enqueue.assign({
        streams: omitKey(context.streams, s.key),
        connections: withoutStream(context.connections, s.connectionId, s.key),
      });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'stopped' });
    }),
    /** Connections left without streams close. */
    closeIdleConnections: enqueueActions(({ context, enqueue }) => {
      const connections = { ...context.connections };
      for (const conn of Object.values(context.connections)) {
        if (conn.streams.length > 0 || !LIVE_CONNECTION.has(conn.state) || !conn.ref) continue;
        enqueue.sendTo(conn.ref, { type: 'NC.CLOSE' });
        connections[conn.id] = { ...conn, state: 'closing' };
        enqueue.emit({ type: 'session.connection', id: conn.id, state: 'closing' });
      }
      enqueue.assign({ connections });
    }),
    stopAllStreams: enqueueActions(({ context, enqueue }) => {
      const streams = { ...context.streams };
      for (const s of Object.values(context.streams)) {
        if (!s.ref || s.state === 'stopping') continue;
        enqueue.sendTo(s.ref, { type: 'STREAM.STOP' });
        streams[s.key] = { ...s, state: 'stopping' };
      }
      enqueue.assign({ streams });
    }),
  },
  guards: {
    /** The request names its key explicitly, and an open stream has that key. */
    isKeyTaken: ({ context, event }) => {
      const key = (event as StreamRequest).key;
      return key !== undefined && isLiveKey(context, key);
    },
    atStreamLimit: ({ context }) => liveStreams(context).length >= context.options.maxStreams,
    noConnectionAvailable: ({ context }) => chooseConnection(context) === null,
    /**
     * 'auto' mode: a createStream answered with an id already in use, or a start timeout on a
     * connection shared with other streams, shows one stream per connection; move the stream.
     */
    shouldRelocate: ({ context, event }) => {
      if (event.type !== 'STREAM.FAILED') return false;
      if (context.options.streamsPerConnection !== 'auto') return false;
      if (!RELOCATING_REASONS.has(event.reason)) return false;
      const s = context.streams[event.key];
      if (!s || s.connectionId === undefined) return false;
      const conn = context.connections[s.connectionId];
      if (!conn || conn.streams.length < 2) return false;
      const single: Ctx = {
        ...context,
        sharing: 'single',
        connections: withoutStream(context.connections, s.connectionId, s.key),
      };
      return chooseConnection(single, s.connectionId) !== null;
    },
    noStreamsLeft: ({ context }) =>
      Object.values(context.streams).every((s) => !LIVE_STREAM.has(s.state)),
    noConnectionsLeft: ({ context }) =>
      Object.values(context.connections).every((c) => c.state === 'failed'),
  },
  delays: {
    closeTimeout: ({ context }) => context.options.closeTimeoutMs,
  },
}).createMachine({
  id: 'sessionSupervisor',
  description: 'A pool of NetConnections and one NetStream actor per stream.',
  context: ({ input }) => ({
    options: {
      connection: input.connection,
      streamsPerConnection: input.streamsPerConnection ?? 'auto',
      maxStreams: input.maxStreams ?? 64,
      maxConnections: input.maxConnections ?? 16,
      streamTimeouts: input.streamTimeouts ?? {},
      closeTimeoutMs: input.closeTimeoutMs ?? 10_000,
    },
    sharing: input.streamsPerConnection === 'one' ? 'single' : 'shared',
    connections: {},
    nextConnectionIndex: 0,
    streams: {},
  }),
  initial: 'running',
  states: {
    running: {
      on: {
        'SESSION.PLAY': [
          {
            guard: 'isKeyTaken',
            actions: { type: 'refuseStream', params: { reason: 'DUPLICATE_KEY' } },
          },
          {
            guard: 'atStreamLimit',
            actions: { type: 'refuseStream', params: { reason: 'MAX_STREAMS' } },
          },
          {
            guard: 'noConnectionAvailable',
            actions: { type: 'refuseStream', params: { reason: 'MAX_CONNECTIONS' } },
          },
          { actions: 'startStream' },
        ],
        'SESSION.PUBLISH': [
          {
            guard: 'isKeyTaken',
            actions: { type: 'refuseStream', params: { reason: 'DUPLICATE_KEY' } },
          },
          {
            guard: 'atStreamLimit',
            actions: { type: 'refuseStream', params: { reason: 'MAX_STREAMS' } },
          },
          {
            guard: 'noConnectionAvailable',
            actions: { type: 'refuseStream', params: { reason: 'MAX_CONNECTIONS' } },
          },
          { actions: 'startStream' },
        ],
        'SESSION.STOP_STREAM': { actions: 'stopStream' },
        'SESSION.CLOSE': { target: 'closing' },
        'CONNECTION.UP': { actions: 'connectionUp' },
        'CONNECTION.DOWN': { actions: 'connectionDown' },
        'CONNECTION.FAILED': { actions: 'connectionFailed' },
        'CONNECTION.CLOSED': { actions: 'forgetConnection' },
        'STREAM.ACTIVE': { actions: 'markStreamActive' },
        'STREAM.RETRYING': { actions: 'markStreamRetrying' },
        'STREAM.FAILED': [
          { guard: 'shouldRelocate', actions: 'relocateStream' },
          { actions: ['recordStreamFailure', 'closeIdleConnections'] },
        ],
        'STREAM.STOPPED': { actions: ['forgetStream', 'closeIdleConnections'] },
      },
    },
    closing: {
      description: 'Each stream stops (deleteStream), then each connection closes.',
      after: { closeTimeout: { target: 'closed' } },
      initial: 'stoppingStreams',
      on: {
        'CONNECTION.UP': { actions: 'connectionUp' },
        'CONNECTION.DOWN': { actions: 'connectionDown' },
        'CONNECTION.CLOSED': { actions: 'forgetConnection' },
        'CONNECTION.FAILED': { actions: 'connectionFailed' },
        'STREAM.STOPPED': { actions: 'forgetStream' },
        'STREAM.FAILED': { actions: 'forgetStream' },
      },
      states: {
        stoppingStreams: {
          entry: 'stopAllStreams',
          always: { guard: 'noStreamsLeft', target: 'closingConnections' },
        },
        closingConnections: {
          entry: 'closeIdleConnections',
          always: { guard: 'noConnectionsLeft', target: '#sessionSupervisor.closed' },
        },
      },
    },
    closed: { type: 'final' },
  },
  output: ({ context }) => {
    const streams: SessionSupervisorOutput['streams'] = {};
    for (const [k, s] of Object.entries(context.streams)) {
      const { ref: _ref, ...rest } = s;
      streams[k] = rest;
    }
    const connections: SessionSupervisorOutput['connections'] = {};
    for (const [k, c] of Object.entries(context.connections)) {
      const { ref: _ref, ...rest } = c;
      connections[k] = rest;
    }
    return { streams, connections };
  },
});
