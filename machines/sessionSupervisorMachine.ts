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
import type { ConnectionNotification, StatusReply, StreamLimit } from './contract';
import { netConnectionMachine, type NetConnectionInput } from './netConnectionMachine';
import type { ErtmpCapabilities } from '../src/protocol/message/capabilities';
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
  /** Most streams at once (a request beyond it is refused, MAX_STREAMS). Default: no limit. */
  maxStreams?: number;
  /**
   * Most connections at once (MAX_CONNECTIONS). Default `maxStreams`: a server that serves one
   * stream per connection gets as many connections as streams were asked for.
   */
  maxConnections?: number;
  /** Timeouts of every stream. */
  streamTimeouts?: Partial<NetStreamTimeouts>;
  /** Longest orderly shutdown on SESSION.CLOSE before the supervisor gives up. Default 10 000. */
  closeTimeoutMs?: number;
  /**
   * The connection options for a ReconnectRequest's `tcUrl` (Enhanced RTMP v2): the owner
   * points the transport and the connect command at the new server. Without it, or when it
   * returns undefined (a URL it cannot use), the request is declined (BAD_TCURL).
   */
  retarget?: (
    connection: SessionSupervisorInput['connection'],
    tcUrl: string,
  ) => SessionSupervisorInput['connection'] | undefined;
}

export type ConnectionState =
  | 'connecting'
  | 'up'
  | 'down'
  /** The server asked it to reconnect: it serves on while its streams move (make-before-break). */
  | 'reconnecting'
  | 'closing'
  | 'failed';

export interface ConnectionSummary {
  id: string;
  state: ConnectionState;
  /** Keys of the streams placed on this connection. */
  streams: string[];
  ref: ActorRefFrom<typeof netConnectionMachine> | undefined;
  /** What the server stated in its connect `_result` (Enhanced RTMP v2), once up. */
  capabilities?: ErtmpCapabilities;
  /** A ReconnectRequest: the connection the streams move to, or why the move was abandoned. */
  reconnect?: { tcUrl: string; to?: string; abandoned?: string };
}

export type StreamState =
  | 'waiting'
  | 'starting'
  | 'active'
  /** A transient failure: the stream waits its backoff and plays again (see PlayOptions.retry). */
  | 'retrying'
  /** Moving to a connection of its own (the server serves one stream each): not a failure. */
  | 'relocating'
  /**
   * ReconnectRequest: still delivering from its old connection while its copy starts on the new
   * one; the owner switches at the new copy's first keyframe (SESSION.MIGRATED).
   */
  | 'migrating'
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
  /** MAX_CONNECTIONS / MAX_STREAMS: the limit that refused the stream. */
  limit?: StreamLimit;
  /** How often the stream moved to another connection. */
  moves: number;
  ref: ActorRefFrom<typeof netStreamMachine> | undefined;
  /** While `migrating`: its copy on the new connection (key and media sink `copyKey`). */
  migration?: { to: string; copyKey: string; ref: ActorRefFrom<typeof netStreamMachine> };
  /** The media sink its actor's connection delivers to: the key, or the copy key it was adopted from. */
  sinkKey?: string;
}

/**
 * The key (and media sink) of stream `key`'s copy for its `move`-th move: `<key>~m<move>`. The
 * owner forwards that sink's media into the stream's own once the copy is adopted.
 */
export function migrationKey(key: string, move: number): string {
  return `${key}~m${move}`;
}

/** The key of the stream a migration copy `key` belongs to, or undefined. */
export function migrationBase(key: string): string | undefined {
  const m = /^(.*)~m\d+$/.exec(key);
  return m ? m[1] : undefined;
}

export interface SessionSupervisorContext {
  options: {
    connection: SessionSupervisorInput['connection'];
    streamsPerConnection: StreamsPerConnection;
    maxStreams: number;
    maxConnections: number;
    streamTimeouts: Partial<NetStreamTimeouts>;
    closeTimeoutMs: number;
    retarget: SessionSupervisorInput['retarget'];
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
  /** The owner switched `key`'s media to its copy on the new connection: adopt the copy. */
  | { type: 'SESSION.MIGRATED'; key: string }
  | { type: 'SESSION.CLOSE' }
  | ConnectionNotification
  | NetStreamNotification;

export type SessionSupervisorEmitted =
  | {
      type: 'session.error';
      reason: SessionRefusal;
      key: string;
      name: string;
      message: string;
      /** MAX_STREAMS / MAX_CONNECTIONS: the limit's option name and value. */
      limit?: StreamLimit;
    }
  | { type: 'session.sharing'; sharing: 'shared' | 'single'; because: string }
  | { type: 'session.stream'; key: string; name: string; state: StreamState | 'stopped' }
  | { type: 'session.connection'; id: string; state: ConnectionState | 'closed' }
  /**
   * A ReconnectRequest moves stream `key` from connection `from` to `to`: `started` (its copy
   * plays on `to`), `switched` (the copy is the stream now), `abandoned` (`reason`: the stream
   * stays on `from`).
   */
  | {
      type: 'session.migration';
      key: string;
      from: string;
      to: string;
      state: 'started' | 'switched' | 'abandoned';
      reason?: string;
      /** `started`: the copy's media sink, and the sink the old stream delivers to. */
      copyKey?: string;
      oldSinkKey?: string;
    }
  /** A ReconnectRequest the session declined (`reason`): the connection serves on. */
  | { type: 'session.reconnect'; connectionId: string; tcUrl: string; declined: string };

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
  'relocating',
  'migrating',
  'interrupted',
  'stopping',
]);
/** Streams a lost connection interrupts. */
const INTERRUPTIBLE: ReadonlySet<StreamState> = new Set([
  'starting',
  'active',
  'retrying',
  'migrating',
]);
/** Connections SESSION.CLOSE (or no streams left) closes. */
const CLOSABLE_CONNECTION: ReadonlySet<ConnectionState> = new Set([
  'connecting',
  'up',
  'down',
  'reconnecting',
]);
/** Failures that show a shared connection serves one stream (an id in use comes as STREAM.DISPLACED). */
const RELOCATING_REASONS: ReadonlySet<string> = new Set(['START_TIMEOUT']);

type Ctx = SessionSupervisorContext;

/** Streams of a session unless `maxStreams` says otherwise: as many as are asked for. */
export const DEFAULT_MAX_STREAMS = Number.POSITIVE_INFINITY;

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

/** Why a ReconnectRequest cannot move connection `id`'s streams, or undefined when it can. */
export function reconnectObstacle(context: Ctx, id: string, tcUrl: string): string | undefined {
  const conn = context.connections[id];
  if (!conn || conn.state !== 'up') return 'NOT_CONNECTED';
  if (conn.streams.length === 0) return 'NO_STREAMS';
  for (const key of conn.streams) {
    const s = context.streams[key];
    // Plays and publishes both move (a publish switches at its next keyframe, in its pump).
    if (!s || s.state !== 'active') return 'STREAM_NOT_ACTIVE';
  }
  if (!context.options.retarget || !context.options.retarget(context.options.connection, tcUrl)) {
    return 'BAD_TCURL';
  }
  return undefined;
}

/** The streams migrating from connection `from` (or to connection `to`). */
function migratingStreams(context: Ctx, match: { from?: string; to?: string }): StreamSummary[] {
  return Object.values(context.streams).filter(
    (s) =>
      s.state === 'migrating' &&
      s.migration !== undefined &&
      (match.from === undefined || s.connectionId === match.from) &&
      (match.to === undefined || s.migration.to === match.to),
  );
}

type StreamNotice = Extract<SessionSupervisorEvent, { key: string; type: `STREAM.${string}` }>;

/** The stream whose migration copy sent `event`, while the copy is still a copy. */
function copyOwner(context: Ctx, event: SessionSupervisorEvent): StreamSummary | undefined {
  const key = (event as Partial<StreamNotice>).key;
  const base = typeof key === 'string' ? migrationBase(key) : undefined;
  if (base === undefined) return undefined;
  const s = context.streams[base];
  return s?.migration ? s : undefined;
}

/**
 * The stream a stream actor's notice is about: the one of its key, or the stream that adopted
 * the copy that sent it (a moved stream's actor keeps the copy key it was spawned with).
 */
function streamOf(context: Ctx, event: SessionSupervisorEvent): StreamSummary | undefined {
  const key = (event as Partial<StreamNotice>).key;
  if (typeof key !== 'string') return undefined;
  return context.streams[key] ?? adopter(context, event);
}

/** The stream that adopted the copy that sent `event` (its ref is the copy now). */
function adopter(context: Ctx, event: SessionSupervisorEvent): StreamSummary | undefined {
  const key = (event as Partial<StreamNotice>).key;
  const base = typeof key === 'string' ? migrationBase(key) : undefined;
  if (base === undefined) return undefined;
  const s = context.streams[base];
  return s && !s.migration ? s : undefined;
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
      const limit: StreamLimit | undefined =
        params.reason === 'MAX_STREAMS'
          ? { name: 'maxStreams', value: context.options.maxStreams }
          : params.reason === 'MAX_CONNECTIONS'
            ? { name: 'maxConnections', value: context.options.maxConnections }
            : undefined;
      const message = limit
        ? `stream "${key}" refused: ${limit.name} (${limit.value}) reached`
        : `stream key "${key}" is already open`;
      return {
        type: 'session.error' as const,
        reason: params.reason,
        key,
        name,
        message,
        ...(limit ? { limit } : {}),
      };
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
      // A stream stopped while migrating: its copy goes too.
      if (stream.migration) enqueue.stopChild(stream.migration.ref);
      const { migration: _migration, ...rest } = stream;
      enqueue.assign({
        streams: { ...context.streams, [key]: { ...rest, state: 'stopping' } },
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
        } else if (s.state === 'interrupted' || s.state === 'relocating') {
          enqueue.sendTo(s.ref, { type: 'NC.RESTORED', connection: conn.ref });
        } else {
          continue;
        }
        streams[key] = { ...s, state: 'starting' };
      }
      // A connection opened for a ReconnectRequest: start the streams' copies on it.
      for (const s of migratingStreams(context, { to: conn.id })) {
        enqueue.sendTo(s.migration!.ref, { type: 'STREAM.START' });
      }
      enqueue.assign({
        connections: {
          ...context.connections,
          [conn.id]: {
            ...conn,
            state: 'up',
            ...(event.capabilities ? { capabilities: event.capabilities } : {}),
          },
        },
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
      const s = streamOf(context, event);
      if (!s) return;
      const { reason: _reason, status: _status, attempt: _attempt, ...rest } = s;
      enqueue.assign({ streams: { ...context.streams, [s.key]: { ...rest, state: 'active' } } });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'active' });
    }),
    /** A stream waits its backoff after a transient failure (it retries by itself). */
    markStreamRetrying: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.RETRYING') return;
      const s = streamOf(context, event);
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
     * stream to a connection of its own. A displaced stream (an id in use) keeps its actor and
     * waits in `relocating` for NC.RESTORED with its new connection; a failed one (a start
     * timeout on a shared connection) gets a new actor under the same id.
     */
    relocateStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.FAILED' && event.type !== 'STREAM.DISPLACED') return;
      const s = streamOf(context, event);
      if (!s) return;
      const single: Ctx = {
        ...context,
        sharing: 'single',
        connections: withoutStream(context.connections, s.connectionId, s.key),
      };
      const choice = chooseConnection(single, s.connectionId);
      if (!choice) return;
      const respawn = event.type === 'STREAM.FAILED';
      if (respawn) enqueue.stopChild(s.ref ?? `stream-${s.key}`);
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
      const up = context.connections[connId]?.state === 'up';
      const state: StreamState = up ? 'starting' : respawn ? 'waiting' : 'relocating';
      enqueue.assign({
        streams: ({ context: c, spawn }) => ({
          ...c.streams,
          [s.key]: {
            ...s,
            connectionId: connId,
            state,
            moves: s.moves + 1,
            ref: respawn
              ? spawn('stream', { id: `stream-${s.key}`, input: streamInput(c, s, connId) })
              : s.ref,
          },
        }),
        connections: ({ context: c }) => withStream(c.connections, connId, s.key),
      });
      if (up && respawn) {
        enqueue.sendTo(({ context: c }) => c.streams[s.key].ref!, { type: 'STREAM.START' });
      } else if (up && s.ref) {
        enqueue.sendTo(s.ref, { type: 'NC.RESTORED', connection: context.connections[connId].ref });
      }
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state });
    }),
    /** A displaced stream cannot move: the pool is full (its limit named), or sharing is forced. */
    refuseRelocation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.DISPLACED') return;
      const s = streamOf(context, event);
      if (!s?.ref) return;
      const single: Ctx = {
        ...context,
        sharing: 'single',
        connections: withoutStream(context.connections, s.connectionId, s.key),
      };
      const full =
        context.options.streamsPerConnection === 'auto' &&
        chooseConnection(single, s.connectionId) === null;
      enqueue.sendTo(
        s.ref,
        full
          ? {
              type: 'STREAM.NOT_MOVED',
              reason: 'MAX_CONNECTIONS',
              limit: { name: 'maxConnections', value: context.options.maxConnections },
            }
          : { type: 'STREAM.NOT_MOVED', reason: 'STREAM_ID_IN_USE' },
      );
    }),
    recordStreamFailure: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.FAILED') return;
      const s = streamOf(context, event);
      if (!s) return;
      enqueue.stopChild(s.ref ?? `stream-${s.key}`);
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
      if (event.limit) failed.limit = event.limit;
      enqueue.assign({
        streams: { ...context.streams, [s.key]: failed },
        connections: withoutStream(context.connections, s.connectionId, s.key),
      });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'failed' });
    }),
    /** A stream stopped: forget it. */
    forgetStream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STREAM.STOPPED' && event.type !== 'STREAM.FAILED') return;
      const s = streamOf(context, event);
      if (!s) return;
      enqueue.stopChild(s.ref ?? `stream-${s.key}`);
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
        if (conn.streams.length > 0 || !CLOSABLE_CONNECTION.has(conn.state) || !conn.ref) continue;
        // A connection a migration goes to is empty until the streams switch: keep it.
        if (migratingStreams(context, { to: conn.id }).length > 0) continue;
        enqueue.sendTo(conn.ref, { type: 'NC.CLOSE' });
        connections[conn.id] = { ...conn, state: 'closing' };
        enqueue.emit({ type: 'session.connection', id: conn.id, state: 'closing' });
      }
      enqueue.assign({ connections });
    }),
    /**
     * ReconnectRequest, make-before-break: open the new connection (to the request's tcUrl) and
     * a copy of each stream on it (key and sink `<key>~next`); the streams go on delivering from
     * the old connection (`migrating`) until the owner switches each (SESSION.MIGRATED).
     */
    beginMigration: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.RECONNECT_REQUESTED') return;
      const old = context.connections[event.connectionId];
      const options = context.options.retarget?.(context.options.connection, event.tcUrl);
      if (!old || !options) return;
      const id = `connection-${context.nextConnectionIndex}`;
      const tcUrl = event.tcUrl;
      enqueue.assign({
        nextConnectionIndex: context.nextConnectionIndex + 1,
        connections: ({ context: c, spawn }) => ({
          ...c.connections,
          [old.id]: {
            ...c.connections[old.id],
            state: 'reconnecting',
            reconnect: { tcUrl, to: id },
          },
          [id]: {
            id,
            state: 'connecting',
            streams: [],
            ref: spawn('connection', {
              id,
              input: { ...options, connectionId: id, autostart: true },
            }),
          },
        }),
      });
      enqueue.emit({ type: 'session.connection', id: old.id, state: 'reconnecting' });
      enqueue.emit({ type: 'session.connection', id, state: 'connecting' });
      for (const key of old.streams) {
        const s = context.streams[key];
        if (!s) continue;
        const copyKey = migrationKey(key, s.moves + 1);
        enqueue.assign({
          streams: ({ context: c, spawn }) => ({
            ...c.streams,
            [key]: {
              ...c.streams[key],
              state: 'migrating',
              migration: {
                to: id,
                copyKey,
                ref: spawn('stream', {
                  id: `stream-${copyKey}`,
                  input: {
                    ...streamInput(c, { ...s, key: copyKey }, id),
                    sinkKey: copyKey,
                  },
                }),
              },
            },
          }),
        });
        enqueue.emit({ type: 'session.stream', key, name: s.name, state: 'migrating' });
        enqueue.emit({
          type: 'session.migration',
          key,
          from: old.id,
          to: id,
          state: 'started',
          copyKey,
          oldSinkKey: s.sinkKey ?? key,
        });
      }
    }),
    declineReconnect: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.RECONNECT_REQUESTED') return;
      const conn = context.connections[event.connectionId];
      const reason = reconnectObstacle(context, event.connectionId, event.tcUrl) ?? 'DECLINED';
      if (conn?.ref) enqueue.sendTo(conn.ref, { type: 'NC.RECONNECT_FAILED', reason });
      enqueue.emit({
        type: 'session.reconnect',
        connectionId: event.connectionId,
        tcUrl: event.tcUrl,
        declined: reason,
      });
    }),
    /**
     * The owner switched `key` to its copy: the copy becomes the stream (on the new connection),
     * the old actor stops; once no stream of the old connection migrates, it closes.
     */
    completeMigration: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SESSION.MIGRATED') return;
      const s = streamOf(context, event);
      if (!s || s.state !== 'migrating' || !s.migration) return;
      const from = s.connectionId;
      const to = s.migration.to;
      if (s.ref) enqueue.stopChild(s.ref);
      const { migration, ...rest } = s;
      const streams = {
        ...context.streams,
        [s.key]: {
          ...rest,
          ref: migration.ref,
          connectionId: to,
          state: 'active' as const,
          moves: s.moves + 1,
          sinkKey: migration.copyKey,
        },
      };
      let connections = withStream(withoutStream(context.connections, from, s.key), to, s.key);
      enqueue.emit({
        type: 'session.migration',
        key: s.key,
        from: from ?? '',
        to,
        state: 'switched',
      });
      enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'active' });
      const old = from !== undefined ? connections[from] : undefined;
      const stillMoving = Object.values(streams).some(
        (x) => x.state === 'migrating' && x.connectionId === from,
      );
      if (old?.ref && !stillMoving) {
        enqueue.sendTo(old.ref, { type: 'NC.RECONNECT_DONE' });
        connections = { ...connections, [old.id]: { ...old, state: 'closing' } };
        enqueue.emit({ type: 'session.connection', id: old.id, state: 'closing' });
      }
      enqueue.assign({ streams, connections });
    }),
    /**
     * The move failed (the new connection failed or was abandoned, a copy failed, the old
     * connection gave up waiting): stop the copies and the new connection; the streams stay on
     * the old connection, which serves on.
     */
    abandonMigration: enqueueActions(({ context, event, enqueue }) => {
      let from: string | undefined;
      let to: string | undefined;
      let reason = 'ABANDONED';
      if (event.type === 'CONNECTION.FAILED') {
        to = event.connectionId;
        reason = `NEW_CONNECTION_FAILED: ${event.reason}`;
      } else if (event.type === 'CONNECTION.RECONNECT_ABANDONED') {
        from = event.connectionId;
        reason = event.reason;
      } else if (event.type === 'CONNECTION.DOWN') {
        from = event.connectionId;
        reason = 'OLD_CONNECTION_DOWN';
      } else if (event.type === 'STREAM.FAILED') {
        const owner = copyOwner(context, event);
        from = owner?.connectionId;
        reason = `COPY_FAILED: ${event.reason}`;
      }
      const moving = migratingStreams(context, {
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
      });
      if (moving.length === 0) return;
      from ??= moving[0].connectionId;
      to ??= moving[0].migration!.to;
      const streams = { ...context.streams };
      for (const s of moving) {
        enqueue.stopChild(s.migration!.ref);
        const { migration: _m, ...rest } = s;
        streams[s.key] = { ...rest, state: 'active' };
        enqueue.emit({
          type: 'session.migration',
          key: s.key,
          from: from ?? '',
          to: to ?? '',
          state: 'abandoned',
          reason,
        });
        enqueue.emit({ type: 'session.stream', key: s.key, name: s.name, state: 'active' });
      }
      const connections = { ...context.connections };
      const old = from !== undefined ? connections[from] : undefined;
      if (old) {
        connections[old.id] = {
          ...old,
          state: old.state === 'reconnecting' ? 'up' : old.state,
          reconnect: { tcUrl: old.reconnect?.tcUrl ?? '', abandoned: reason },
        };
        if (
          old.ref &&
          event.type !== 'CONNECTION.RECONNECT_ABANDONED' &&
          old.state === 'reconnecting'
        ) {
          enqueue.sendTo(old.ref, { type: 'NC.RECONNECT_FAILED', reason });
        }
        if (old.state === 'reconnecting')
          enqueue.emit({ type: 'session.connection', id: old.id, state: 'up' });
      }
      const target = to !== undefined ? connections[to] : undefined;
      if (target?.ref && event.type !== 'CONNECTION.FAILED' && target.streams.length === 0) {
        enqueue.sendTo(target.ref, { type: 'NC.CLOSE' });
        connections[target.id] = { ...target, state: 'closing' };
        enqueue.emit({ type: 'session.connection', id: target.id, state: 'closing' });
      }
      enqueue.assign({ streams, connections });
    }),
    stopAllStreams: enqueueActions(({ context, enqueue }) => {
      const streams = { ...context.streams };
      for (const s of Object.values(context.streams)) {
        if (!s.ref || s.state === 'stopping') continue;
        enqueue.sendTo(s.ref, { type: 'STREAM.STOP' });
        if (s.migration) enqueue.stopChild(s.migration.ref);
        const { migration: _migration, ...rest } = s;
        streams[s.key] = { ...rest, state: 'stopping' };
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
     * 'auto' mode: a createStream answered with an id already in use (STREAM.DISPLACED), or a
     * start timeout on a connection shared with other streams, shows one stream per connection;
     * move the stream, if the pool has room.
     */
    shouldRelocate: ({ context, event }) => {
      if (event.type !== 'STREAM.FAILED' && event.type !== 'STREAM.DISPLACED') return false;
      if (context.options.streamsPerConnection !== 'auto') return false;
      if (event.type === 'STREAM.FAILED' && !RELOCATING_REASONS.has(event.reason)) return false;
      const s = streamOf(context, event);
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
    /** A ReconnectRequest whose streams can move (all active) to a usable tcUrl. */
    canMigrate: ({ context, event }) =>
      event.type === 'CONNECTION.RECONNECT_REQUESTED' &&
      reconnectObstacle(context, event.connectionId, event.tcUrl) === undefined,
    /** A notification from a migration copy that is still a copy. */
    isFromCopy: ({ context, event }) => copyOwner(context, event) !== undefined,
    /** The event concerns a connection that streams migrate from or to. */
    hasMigration: ({ context, event }) => {
      if (
        event.type !== 'CONNECTION.FAILED' &&
        event.type !== 'CONNECTION.DOWN' &&
        event.type !== 'CONNECTION.RECONNECT_ABANDONED'
      ) {
        return false;
      }
      return (
        migratingStreams(context, { from: event.connectionId }).length > 0 ||
        migratingStreams(context, { to: event.connectionId }).length > 0
      );
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
      maxStreams: input.maxStreams ?? DEFAULT_MAX_STREAMS,
      maxConnections: input.maxConnections ?? input.maxStreams ?? DEFAULT_MAX_STREAMS,
      streamTimeouts: input.streamTimeouts ?? {},
      closeTimeoutMs: input.closeTimeoutMs ?? 10_000,
      retarget: input.retarget,
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
        'SESSION.MIGRATED': { actions: 'completeMigration' },
        'SESSION.CLOSE': { target: 'closing' },
        'CONNECTION.UP': { actions: 'connectionUp' },
        'CONNECTION.DOWN': [
          { guard: 'hasMigration', actions: ['abandonMigration', 'connectionDown'] },
          { actions: 'connectionDown' },
        ],
        'CONNECTION.FAILED': [
          { guard: 'hasMigration', actions: ['abandonMigration', 'connectionFailed'] },
          { actions: 'connectionFailed' },
        ],
        'CONNECTION.CLOSED': { actions: 'forgetConnection' },
        'CONNECTION.RECONNECT_REQUESTED': [
          { guard: 'canMigrate', actions: 'beginMigration' },
          { actions: 'declineReconnect' },
        ],
        'CONNECTION.RECONNECT_ABANDONED': { actions: 'abandonMigration' },
        // A copy's own notices (still a copy) name no stream of the context: the plain
        // handlers ignore them; only its failure abandons the move. Once adopted, its notices
        // (keyed by the copy key) are the stream's own (see `streamOf`).
        'STREAM.ACTIVE': { actions: 'markStreamActive' },
        'STREAM.RETRYING': { actions: 'markStreamRetrying' },
        'STREAM.DISPLACED': [
          { guard: 'shouldRelocate', actions: 'relocateStream' },
          { actions: 'refuseRelocation' },
        ],
        'STREAM.FAILED': [
          { guard: 'isFromCopy', actions: 'abandonMigration' },
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
