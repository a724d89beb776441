/**
 * The session supervisor: owns a pool of NetConnection actors (`connection-0`, `connection-1`, ...)
 * and one NetStream actor per requested stream (`stream-<name>`). It puts streams on connections
 * (many per connection where the server allows it), learns in 'auto' mode when a server serves
 * one stream per connection (nginx-rtmp, node-media-server) and moves the stream that showed it to
 * a connection of its own, interrupts and resumes streams when a connection drops and comes
 * back, enforces `maxStreams` / `maxConnections`, and closes everything in order on SESSION.CLOSE.
 *
 * `context.connections` and `context.streams` are the aggregated view of the session.
 */
import { emit, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { ConnectionNotification, StatusReply, StreamNotification } from './contract';
import { netConnectionMachine, type NetConnectionInput } from './netConnectionMachine';
import {
  netStreamMachine,
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
  /** Names of the streams placed on this connection. */
  streams: string[];
  ref: ActorRefFrom<typeof netConnectionMachine> | undefined;
}

export type StreamState = 'waiting' | 'starting' | 'active' | 'interrupted' | 'stopping' | 'failed';

export interface StreamRequestOptions {
  play?: PlayOptions;
  publish?: PublishOptions;
  /** Media sink key (default: the stream name). */
  sinkKey?: string;
}

export interface StreamSummary {
  name: string;
  mode: StreamMode;
  options: StreamRequestOptions;
  connectionId: string | undefined;
  state: StreamState;
  reason?: string;
  status?: StatusReply;
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
  streams: Record<string, StreamSummary>;
}

export type SessionRefusal = 'MAX_STREAMS' | 'MAX_CONNECTIONS' | 'DUPLICATE_STREAM';

export type SessionSupervisorEvent =
  | { type: 'SESSION.PLAY'; name: string; options?: StreamRequestOptions }
  | { type: 'SESSION.PUBLISH'; name: string; options?: StreamRequestOptions }
  | { type: 'SESSION.STOP_STREAM'; name: string }
  | { type: 'SESSION.CLOSE' }
  | ConnectionNotification
  | StreamNotification;

export type SessionSupervisorEmitted =
  | { type: 'session.error'; reason: SessionRefusal; name: string; message: string }
  | { type: 'session.sharing'; sharing: 'shared' | 'single'; because: string }
  | { type: 'session.stream'; name: string; state: StreamState | 'stopped' }
  | { type: 'session.connection'; id: string; state: ConnectionState | 'closed' };

export interface SessionSupervisorOutput {
  streams: Record<string, Omit<StreamSummary, 'ref'>>;
  connections: Record<string, Omit<ConnectionSummary, 'ref'>>;
}

const LIVE_CONNECTION: ReadonlySet<ConnectionState> = new Set(['connecting', 'up', 'down']);
const LIVE_STREAM: ReadonlySet<StreamState> = new Set([
  'waiting',
  'starting',
  'active',
  'interrupted',
  'stopping',
]);
const RELOCATING_REASONS: ReadonlySet<string> = new Set(['START_TIMEOUT', 'STREAM_ID_IN_USE']);

type Ctx = SessionSupervisorContext;

/** `connection-12` -> 12 (a plain numeric sort: this runs once per new stream). */
function connectionIndex(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

function liveStreams(context: Ctx): StreamSummary[] {
  return Object.values(context.streams).filter((s) => LIVE_STREAM.has(s.state));
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

function requestOf(event: SessionSupervisorEvent): {
  name: string;
  mode: StreamMode;
  options: StreamRequestOptions;
} {
  if (event.type === 'SESSION.PUBLISH') {
    return { name: event.name, mode: 'publish', options: event.options ?? {} };
  }
  const e = event as Extract<SessionSupervisorEvent, { type: 'SESSION.PLAY' }>;
  return { name: e.name, mode: 'play', options: e.options ?? {} };
}

function withoutStream(
  connections: Record<string, ConnectionSummary>,
  connectionId: string | undefined,
  name: string,
): Record<string, ConnectionSummary> {
  if (connectionId === undefined || !connections[connectionId]) return connections;
  const c = connections[connectionId];
  return { ...connections, [connectionId]: { ...c, streams: c.streams.filter((n) => n !== name) } };
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
      const name = 'name' in event && typeof event.name === 'string' ? event.name : '';
      const message =
        params.reason === 'MAX_STREAMS'
          ? `stream "${name}" refused: maxStreams (${context.options.maxStreams}) reached`
          : params.reason === 'MAX_CONNECTIONS'
            ? `stream "${name}" refused: maxConnections (${context.options.maxConnections}) reached`
            : `stream "${name}" is already open`;
      return { type: 'session.error' as const, reason: params.reason, name, message };
    }),
    /** Places the requested stream on a connection (spawning one if needed) and spawns it. */
    startStream: enqueueActions(({ context, event, enqueue }) => {
      const { name, mode, options } = requestOf(event);
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
              ref: spawn('connection', {
                id,
                input: { ...c.options.connection, connectionId: id, autostart: true },
              }),
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
            [name]: {
              name,
              mode,
              options,
              connectionId: connId,
              state: conn.state === 'up' ? 'starting' : 'waiting',
              moves: 0,
              ref: spawn('stream', {
                id: `stream-${name}`,
                input: {
                  name,
                  mode,
                  connection: conn.ref!,
                  timeouts: c.options.streamTimeouts,
                  ...options,
                },
              }),
            },
          };
        },
        connections: ({ context: c }) => ({
          ...c.connections,
          [connId]: { ...c.connections[connId], streams: [...c.connections[connId].streams, name] },
        }),
      });
      // Not connected yet: CONNECTION.UP starts it.
      const up = context.connections[connId]?.state === 'up';
      if (up) enqueue.sendTo(({ context: c }) => c.streams[name].ref!, { type: 'STREAM.START' });
      enqueue.emit({ type: 'session.stream', name, state: up ? 'starting' : 'waiting' });
    }),
    stopStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SESSION.STOP_STREAM') return;
      const stream = context.streams[event.name];
      if (!stream || !stream.ref) return;
      enqueue.sendTo(stream.ref, { type: 'STREAM.STOP' });
      enqueue.assign({
        streams: { ...context.streams, [stream.name]: { ...stream, state: 'stopping' } },
      });
      enqueue.emit({ type: 'session.stream', name: stream.name, state: 'stopping' });
    }),
    /** A connection is up: start its waiting streams, resume its interrupted ones. */
    connectionUp: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.UP') return;
      const conn = context.connections[event.connectionId];
      if (!conn) return;
      const streams = { ...context.streams };
      for (const name of conn.streams) {
        const s = streams[name];
        if (!s?.ref) continue;
        if (s.state === 'waiting') {
          enqueue.sendTo(s.ref, { type: 'STREAM.START' });
        } else if (s.state === 'interrupted') {
          enqueue.sendTo(s.ref, { type: 'NC.RESTORED', connection: conn.ref });
        } else {
          continue;
        }
        streams[name] = { ...s, state: 'starting' };
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
      for (const name of conn.streams) {
        const s = streams[name];
        if (!s?.ref || (s.state !== 'starting' && s.state !== 'active')) continue;
        enqueue.sendTo(s.ref, { type: 'NC.INTERRUPTED' });
        streams[name] = { ...s, state: 'interrupted' };
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
      for (const name of conn.streams) {
        const s = context.streams[name];
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
      const s = context.streams[event.name];
      if (!s) return;
      enqueue.assign({ streams: { ...context.streams, [s.name]: { ...s, state: 'active' } } });
      enqueue.emit({ type: 'session.stream', name: s.name, state: 'active' });
    }),
    /**
     * The server serves one stream per connection: switch the session to 'single' and move the
     * stream to a connection of its own (a new actor for it, same id).
     */
    relocateStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.FAILED') return;
      const s = context.streams[event.name];
      if (!s) return;
      const single: Ctx = {
        ...context,
        sharing: 'single',
        connections: withoutStream(context.connections, s.connectionId, s.name),
      };
      const choice = chooseConnection(single, s.connectionId);
      if (!choice) return;
      enqueue.stopChild(`stream-${s.name}`);
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
              ref: spawn('connection', {
                id,
                input: { ...c.options.connection, connectionId: id, autostart: true },
              }),
            },
          }),
        });
        enqueue.emit({ type: 'session.connection', id, state: 'connecting' });
      }
      const connId = connectionId;
      enqueue.assign({
        streams: ({ context: c, spawn }) => ({
          ...c.streams,
          [s.name]: {
            ...s,
            connectionId: connId,
            state: c.connections[connId].state === 'up' ? 'starting' : 'waiting',
            moves: s.moves + 1,
            ref: spawn('stream', {
              id: `stream-${s.name}`,
              input: {
                name: s.name,
                mode: s.mode,
                connection: c.connections[connId].ref!,
                timeouts: c.options.streamTimeouts,
                ...s.options,
              },
            }),
          },
        }),
        connections: ({ context: c }) => ({
          ...c.connections,
          [connId]: {
            ...c.connections[connId],
            streams: [...c.connections[connId].streams, s.name],
          },
        }),
      });
      const up = context.connections[connId]?.state === 'up';
      if (up) enqueue.sendTo(({ context: c }) => c.streams[s.name].ref!, { type: 'STREAM.START' });
      enqueue.emit({ type: 'session.stream', name: s.name, state: up ? 'starting' : 'waiting' });
    }),
    recordStreamFailure: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.FAILED') return;
      const s = context.streams[event.name];
      if (!s) return;
      enqueue.stopChild(`stream-${s.name}`);
      const failed: StreamSummary = {
        ...s,
        state: 'failed',
        reason: event.reason,
        ref: undefined,
        connectionId: undefined,
      };
      if (event.status) failed.status = event.status;
      enqueue.assign({
        streams: { ...context.streams, [s.name]: failed },
        connections: withoutStream(context.connections, s.connectionId, s.name),
      });
      enqueue.emit({ type: 'session.stream', name: s.name, state: 'failed' });
    }),
    /** A stream stopped: forget it. */
    forgetStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.STOPPED' && event.type !== 'STREAM.FAILED') return;
      const s = context.streams[event.name];
      if (!s) return;
      enqueue.stopChild(`stream-${s.name}`);
      enqueue.assign({
        streams: omitKey(context.streams, s.name),
        connections: withoutStream(context.connections, s.connectionId, s.name),
      });
      enqueue.emit({ type: 'session.stream', name: s.name, state: 'stopped' });
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
        streams[s.name] = { ...s, state: 'stopping' };
      }
      enqueue.assign({ streams });
    }),
  },
  guards: {
    isDuplicateStream: ({ context, event }) => {
      const s = context.streams[requestOf(event).name];
      return s !== undefined && LIVE_STREAM.has(s.state);
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
      const s = context.streams[event.name];
      if (!s || s.connectionId === undefined) return false;
      const conn = context.connections[s.connectionId];
      if (!conn || conn.streams.length < 2) return false;
      const single: Ctx = {
        ...context,
        sharing: 'single',
        connections: withoutStream(context.connections, s.connectionId, s.name),
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
            guard: 'isDuplicateStream',
            actions: { type: 'refuseStream', params: { reason: 'DUPLICATE_STREAM' } },
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
            guard: 'isDuplicateStream',
            actions: { type: 'refuseStream', params: { reason: 'DUPLICATE_STREAM' } },
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
