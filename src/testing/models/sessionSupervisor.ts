/**
 * The test model of sessionSupervisorMachine. Its children are the real NetConnection and
 * NetStream machines; every connection's transport is a scripted peer, so CONNECTION.* and
 * STREAM.* events are realized by making the far-end server act (answer connect, createStream,
 * play, hang up...), never by sending them to the supervisor directly. Replays run in 'oracle'
 * mode: children answer on their own, so an event may already have happened.
 */
import {
  createActor,
  SimulatedClock,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type InspectionEvent,
} from 'xstate';
import {
  netConnectionMachine,
  type NetConnectionContext,
} from '../../../machines/netConnectionMachine';
import type { NetStreamContext } from '../../../machines/netStreamMachine';
import {
  migrationBase,
  sessionSupervisorMachine,
  type SessionSupervisorContext,
  type SessionSupervisorInput,
  type StreamsPerConnection,
} from '../../../machines/sessionSupervisorMachine';
import { buildError, buildOnStatus, buildResult, StatusCode } from '../../protocol/message';
import { delayOf, type ReplayHarness } from '../paths';
import { createScriptedPeer, ScriptError, type PeerSocket } from '../scriptedPeer';

export interface SessionSupervisorModelOptions {
  streamsPerConnection?: StreamsPerConnection;
  maxStreams?: number;
  maxConnections?: number;
  /** Stream names the model may request (play). Default ['a', 'b']. */
  names?: string[];
  /**
   * Also request a name again while a stream of it is open (it gets the key `<name>#2`). Off by
   * default: it multiplies the states, so one scenario with one name explores it.
   */
  repeat?: boolean;
  /** Most connections ever opened in one path (keeps the graph finite). Default 2. */
  connectionBudget?: number;
  /** Also request a publish stream 'p'. */
  publish?: boolean;
  /** Also explore the rarer variants (connect refused, createStream _error). */
  rare?: boolean;
  /**
   * Plays keep watching (PlayOptions.keepWatching): a not-found or ended stream retries
   * (STREAM.RETRYING) and comes back with media (STREAM.ACTIVE); refusals are BadName.
   */
  keepWatching?: boolean;
  /** The machine to replay (e.g. a mutant); paths still come from sessionSupervisorMachine. */
  machine?: typeof sessionSupervisorMachine;
  /**
   * Enhanced RTMP v2 ReconnectRequest: an `up` connection may be asked to reconnect, and the
   * moves that follow (copy active or failed, switched, abandoned) are offered.
   */
  reconnect?: boolean;
}

/** Where the model's ReconnectRequest points. */
const RECONNECT_TCURL = 'rtmp://127.0.0.2/live';
/** The NetConnection's reconnect timeout in the model (below the streams' stall timeout). */
const RECONNECT_TIMEOUT = 20_000;

/** The backoff of a kept-watching play in the model (short beside START_TIMEOUT). */
const RETRY_MS = 50;

const START_TIMEOUT = 1_000;

/** The supervisor's test model. */
export function sessionSupervisorModel(options: SessionSupervisorModelOptions = {}) {
  const machine = sessionSupervisorMachine;
  const names = options.names ?? ['a', 'b'];
  const budget = options.connectionBudget ?? 2;
  const baseInput = (clock?: SimulatedClock): SessionSupervisorInput => ({
    connection: {
      connect: { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' },
      form: 'simple',
      timeouts: {
        transport: 60_000,
        handshake: 60_000,
        connect: 60_000,
        close: 60_000,
        reconnect: RECONNECT_TIMEOUT,
      },
      retry: { maxAttempts: 5, baseMs: 50, maxMs: 50 },
      random: () => 0,
      now: clock ? () => clock.now() : () => 0,
    },
    streamsPerConnection: options.streamsPerConnection ?? 'auto',
    maxStreams: options.maxStreams ?? 2,
    maxConnections: options.maxConnections ?? 2,
    streamTimeouts: {
      create: 30_000,
      start: START_TIMEOUT,
      firstFrame: 30_000,
      stall: 30_000,
      stop: 30_000,
    },
    closeTimeoutMs: 45_000,
    ...(options.reconnect
      ? {
          retarget: (connection: SessionSupervisorInput['connection'], tcUrl: string) => ({
            ...connection,
            connect: { ...connection.connect, tcUrl },
          }),
        }
      : {}),
  });
  const input = baseInput();

  const playRequest = (name: string, key?: string): AnyEventObject => ({
    type: 'SESSION.PLAY',
    name,
    ...(key !== undefined ? { key } : {}),
    ...(options.keepWatching
      ? {
          options: {
            play: { keepWatching: true, retry: { baseMs: RETRY_MS, maxMs: RETRY_MS } },
          },
        }
      : {}),
  });
  const events = (snapshot: AnyMachineSnapshot): AnyEventObject[] => {
    if (snapshot.status !== 'active') return [];
    const ctx = snapshot.context as SessionSupervisorContext;
    const out: AnyEventObject[] = [];
    const running = snapshot.matches('running');
    const streams = Object.values(ctx.streams);
    const starting = streams.filter((s) => s.state === 'starting');
    const retries = (s: { mode: string }) => options.keepWatching === true && s.mode === 'play';
    if (running) {
      if (ctx.nextConnectionIndex < budget) {
        const open = (name: string) => streams.some((s) => s.name === name && s.state !== 'failed');
        for (const name of names) {
          if (options.repeat || !open(name)) out.push(playRequest(name));
        }
        if (options.publish && (options.repeat || !open('p'))) {
          out.push({ type: 'SESSION.PUBLISH', name: 'p' });
        }
      }
      for (const s of streams) {
        if (s.state !== 'stopping' && s.state !== 'failed') {
          out.push({ type: 'SESSION.STOP_STREAM', key: s.key });
        }
      }
      // A request that names an open stream's key explicitly (refused: DUPLICATE_KEY).
      for (const s of streams) {
        if (s.state === 'failed') continue;
        out.push(
          s.mode === 'play'
            ? playRequest(s.name, s.key)
            : { type: 'SESSION.PUBLISH', name: s.name, key: s.key },
        );
      }
      out.push({ type: 'SESSION.CLOSE' });
    }
    for (const c of Object.values(ctx.connections)) {
      const id = c.id;
      if (c.state === 'connecting') {
        out.push({ type: 'CONNECTION.UP', connectionId: id });
        if (options.rare)
          out.push({ type: 'CONNECTION.FAILED', connectionId: id, reason: 'REJECTED' });
        const target = streams.some((s) => s.migration?.to === id);
        if (options.reconnect && target && !options.rare) {
          out.push({ type: 'CONNECTION.FAILED', connectionId: id, reason: 'REJECTED' });
        }
      } else if (c.state === 'up') {
        out.push({ type: 'CONNECTION.DOWN', connectionId: id });
        out.push({ type: 'CONNECTION.FAILED', connectionId: id, reason: 'TRANSPORT_ERROR' });
        if (options.reconnect) {
          out.push({
            type: 'CONNECTION.RECONNECT_REQUESTED',
            connectionId: id,
            tcUrl: RECONNECT_TCURL,
          });
        }
      } else if (c.state === 'reconnecting') {
        out.push({ type: 'CONNECTION.DOWN', connectionId: id });
        out.push({
          type: 'CONNECTION.RECONNECT_ABANDONED',
          connectionId: id,
          reason: 'RECONNECT_TIMEOUT',
        });
      } else if (c.state === 'down') {
        out.push({ type: 'CONNECTION.UP', connectionId: id });
      } else if (c.state === 'closing') {
        out.push({ type: 'CONNECTION.CLOSED', connectionId: id });
      }
    }
    for (const s of streams) {
      const conn = s.connectionId !== undefined ? ctx.connections[s.connectionId] : undefined;
      // A moved stream's actor notifies with the copy key it was spawned with.
      const id = { key: s.sinkKey ?? s.key, name: s.name };
      if (s.state === 'migrating' && s.migration) {
        const copy = { key: s.migration.copyKey, name: s.name };
        if (ctx.connections[s.migration.to]?.state === 'up') {
          out.push({ type: 'STREAM.ACTIVE', ...copy });
          out.push({ type: 'STREAM.FAILED', ...copy, reason: 'REFUSED' });
        }
        out.push({ type: 'SESSION.MIGRATED', key: s.key });
      }
      if (s.state === 'starting' && conn?.state === 'up') {
        out.push({ type: 'STREAM.ACTIVE', ...id });
        out.push({ type: 'STREAM.FAILED', ...id, reason: 'REFUSED' });
        if (options.rare) out.push({ type: 'STREAM.FAILED', ...id, reason: 'CREATE_FAILED' });
        const sharedActive = conn.streams.some(
          (k) => k !== s.key && ctx.streams[k]?.state === 'active',
        );
        if (sharedActive) {
          out.push({ type: 'STREAM.DISPLACED', ...id, reason: 'STREAM_ID_IN_USE' });
        }
        if (retries(s)) {
          out.push({ type: 'STREAM.RETRYING', ...id, reason: 'REFUSED' });
        } else if (starting.length === 1) {
          out.push({ type: 'STREAM.FAILED', ...id, reason: 'START_TIMEOUT' });
        }
      }
      if (s.state === 'active' && retries(s)) {
        out.push({ type: 'STREAM.RETRYING', ...id, reason: 'ENDED' });
      }
      if (s.state === 'retrying' && conn?.state === 'up') {
        out.push({ type: 'STREAM.ACTIVE', ...id });
      }
      if (s.state === 'stopping') out.push({ type: 'STREAM.STOPPED', ...id });
    }
    return out;
  };

  /** The aggregated view the replay must agree on. */
  const project = (snapshot: AnyMachineSnapshot) => {
    const ctx = snapshot.context as SessionSupervisorContext;
    const connections: Record<string, string> = {};
    for (const c of Object.values(ctx.connections)) {
      connections[c.id] = `${c.state}:${c.streams.join(',')}`;
    }
    const streams: Record<string, string> = {};
    for (const s of Object.values(ctx.streams)) {
      streams[s.key] =
        `${s.name}:${s.state}@${s.connectionId ?? '-'}${s.reason ? `:${s.reason}` : ''}`;
    }
    return { sharing: ctx.sharing, next: ctx.nextConnectionIndex, connections, streams };
  };
  const serializeState = (snapshot: AnyMachineSnapshot): string =>
    JSON.stringify({ value: snapshot.value, ...project(snapshot) });

  /** A live supervisor over scripted peers (one socket per connection attempt). */
  const harness = (inspect: (ev: InspectionEvent) => void) => {
    const clock = new SimulatedClock();
    const peer = createScriptedPeer();
    const logic = (options.machine ?? machine).provide({
      actors: {
        connection: netConnectionMachine.provide({ actors: { transport: peer.transport } }),
      },
    });
    const actor = createActor(logic, { input: baseInput(clock), clock, inspect }).start();
    // Refusals of a request, emitted as session.error.
    const refusals: AnyEventObject[] = [];
    actor.on('session.error', (e) => {
      if (['DUPLICATE_KEY', 'MAX_STREAMS', 'MAX_CONNECTIONS'].includes(e.reason)) refusals.push(e);
    });
    let refusalsSeen = 0;
    const ctx = () => actor.getSnapshot().context as SessionSupervisorContext;
    const child = (id: string): AnyActorRef | undefined =>
      (actor.getSnapshot().children as Record<string, AnyActorRef | undefined>)[id];
    // Streams go by key (`a`, `a#2`: two requests of the name `a`), as in the supervisor.
    const streamActor = (key: string) => child(`stream-${key}`);
    /** The stream of a key: its own, or (a copy key) the stream it belongs to. */
    const summaryOf = (key: string) =>
      ctx().streams[key] ?? ctx().streams[migrationBase(key) ?? key];
    const connectionOf = (key: string) => {
      const summary = summaryOf(key);
      const id = summary?.migration?.copyKey === key ? summary.migration.to : summary?.connectionId;
      if (id === undefined) throw new ScriptError(`stream ${key} has no connection`);
      return id;
    };
    const ncSnapshot = (id: string) => {
      const nc = child(id);
      if (!nc) throw new ScriptError(`no actor ${id}`);
      return nc.getSnapshot() as AnyMachineSnapshot;
    };
    /** The ids the far end gave out on a socket (a fresh one each time, like a multi-stream server). */
    const issued = new WeakMap<PeerSocket, number>();
    /** The createStream transaction the connection sent for this stream. */
    const createTid = (name: string): number => {
      const nc = ncSnapshot(connectionOf(name)).context as NetConnectionContext;
      const ref = streamActor(name);
      const tid = Object.entries(nc.pendingCreates).find(([, p]) => p.requester === ref)?.[0];
      if (tid === undefined) throw new ScriptError(`no createStream pending for ${name}`);
      return Number(tid);
    };
    const answerCreate = (name: string, socket: PeerSocket, streamId?: number | null): void => {
      const tid = createTid(name);
      if (streamId === null) {
        socket.send(buildError(tid, null, { level: 'error', code: 'NetConnection.Call.Failed' }));
        return;
      }
      const id = streamId ?? (issued.get(socket) ?? 0) + 1;
      if (streamId === undefined) issued.set(socket, id);
      socket.send(buildResult(tid, null, id));
    };
    const streamIdOf = (name: string): number => {
      const s = streamActor(name)?.getSnapshot().context as NetStreamContext | undefined;
      if (s?.streamId === undefined) throw new ScriptError(`stream ${name} has no stream id`);
      return s.streamId;
    };
    const ensureCreated = (name: string): { socket: PeerSocket; streamId: number } => {
      const socket = peer.socket(connectionOf(name));
      const stream = streamActor(name)?.getSnapshot() as AnyMachineSnapshot | undefined;
      if (stream?.matches('creating')) answerCreate(name, socket);
      return { socket, streamId: streamIdOf(name) };
    };

    const realize: ReplayHarness['realize'] = (event, { before }) => {
      switch (event.type) {
        case 'SESSION.PLAY':
        case 'SESSION.PUBLISH':
        case 'SESSION.STOP_STREAM':
        case 'SESSION.CLOSE':
        case 'SESSION.MIGRATED':
          actor.send(event as never);
          return;
        case 'CONNECTION.RECONNECT_REQUESTED':
          peer.socket(event.connectionId as string).send(
            buildOnStatus({
              level: 'status',
              code: StatusCode.ConnectReconnectRequest,
              tcUrl: event.tcUrl as string,
            }),
          );
          return;
        case 'CONNECTION.RECONNECT_ABANDONED':
          clock.increment(RECONNECT_TIMEOUT);
          return;
        case 'CONNECTION.UP': {
          const id = event.connectionId as string;
          let nc = ncSnapshot(id);
          if (nc.matches('retrying')) {
            clock.increment((nc.context as NetConnectionContext).nextRetryDelay);
            nc = ncSnapshot(id);
          }
          const socket = peer.socket(id);
          if (nc.matches({ session: 'opening' })) socket.accept();
          if (ncSnapshot(id).matches({ session: 'handshaking' })) socket.completeHandshake();
          socket.answerConnect();
          return;
        }
        case 'CONNECTION.DOWN':
          peer.socket(event.connectionId).hangUp();
          return;
        case 'CONNECTION.FAILED': {
          const id = event.connectionId as string;
          const socket = peer.socket(id);
          // A refused connect (a connection not yet that far gets there first); once connected,
          // bytes the transport refuses.
          if (ncSnapshot(id).matches({ session: 'opening' })) socket.accept();
          if (ncSnapshot(id).matches({ session: 'handshaking' })) socket.completeHandshake();
          if (ncSnapshot(id).matches({ session: 'connecting' })) {
            socket.answerConnect({ ok: false, code: StatusCode.ConnectRejected });
          } else {
            socket.fail('PROTOCOL');
          }
          return;
        }
        case 'CONNECTION.CLOSED':
          peer.socket(event.connectionId).confirmClose();
          return;
        case 'STREAM.ACTIVE': {
          const name = event.key as string;
          const real = streamActor(name)?.getSnapshot() as AnyMachineSnapshot | undefined;
          const retrying = summaryOf(name)?.state === 'retrying';
          if (real?.matches('retrying')) {
            clock.increment((real.context as NetStreamContext).retry?.delayMs ?? RETRY_MS);
          }
          const { socket, streamId } = ensureCreated(name);
          const mode = summaryOf(name)!.mode;
          socket.sendStatus(
            streamId,
            mode === 'play' ? StatusCode.PlayStart : StatusCode.PublishStart,
          );
          // After retries, Play.Start is no success by itself: media is.
          if (retrying) socket.sendKeyframe(streamId, 1000);
          return;
        }
        case 'STREAM.RETRYING': {
          const name = event.key as string;
          const real = streamActor(name)?.getSnapshot() as AnyMachineSnapshot | undefined;
          if (real?.matches('active')) {
            peer
              .socket(connectionOf(name))
              .sendStatus(streamIdOf(name), StatusCode.PlayUnpublishNotify);
          } else {
            const { socket, streamId } = ensureCreated(name);
            socket.sendStatus(streamId, StatusCode.PlayStreamNotFound, 'error');
          }
          return;
        }
        case 'STREAM.DISPLACED':
        case 'STREAM.FAILED': {
          const name = event.key as string;
          const socket = peer.socket(connectionOf(name));
          if (event.reason === 'CREATE_FAILED') {
            answerCreate(name, socket, null);
          } else if (event.reason === 'STREAM_ID_IN_USE') {
            const other = ctx().connections[connectionOf(name)].streams.find(
              (n) => n !== summaryOf(name)?.key && ctx().streams[n]?.state === 'active',
            );
            if (!other) throw new ScriptError('no active stream to collide with');
            answerCreate(name, socket, streamIdOf(ctx().streams[other].sinkKey ?? other));
          } else {
            const { streamId } = ensureCreated(name);
            if (event.reason === 'REFUSED') {
              const mode = summaryOf(name)!.mode;
              const notFound = options.keepWatching
                ? 'NetStream.Play.BadName'
                : StatusCode.PlayStreamNotFound;
              socket.sendStatus(
                streamId,
                mode === 'play' ? notFound : StatusCode.PublishBadName,
                'error',
              );
            } else {
              clock.increment(START_TIMEOUT);
            }
          }
          return;
        }
        case 'STREAM.STOPPED': {
          const name = event.key as string;
          const stream = streamActor(name);
          if (!stream) return; // already gone
          const snap = stream.getSnapshot() as AnyMachineSnapshot;
          if (snap.matches({ active: { publish: 'draining' } }))
            stream.send({ type: 'STREAM.DRAINED' });
          const after = stream.getSnapshot() as AnyMachineSnapshot;
          if (after.matches('stopping')) {
            peer
              .socket(connectionOf(name))
              .sendStatus(streamIdOf(name), StatusCode.UnpublishSuccess);
          }
          return;
        }
        default: {
          const delay = delayOf(logic, event.type, before);
          if (!delay) throw new ScriptError(`no way to realize ${event.type}`);
          clock.increment(delay.ms);
        }
      }
    };

    /** The summary must agree with the children's real states. */
    const check: NonNullable<ReplayHarness['check']> = ({ event, before, actual }) => {
      const c = actual.context as SessionSupervisorContext;
      const refused = refusals.slice(refusalsSeen);
      refusalsSeen = refusals.length;
      if (event.type === 'SESSION.PLAY' || event.type === 'SESSION.PUBLISH') {
        const was = (before.context as SessionSupervisorContext).streams;
        const accepted = Object.entries(c.streams).some(
          ([k, s]) => was[k] !== s && s.state !== 'failed',
        );
        if (!accepted && (refused.length !== 1 || refused[0].name !== event.name)) {
          throw new Error(`a refused ${event.type} said ${JSON.stringify(refused)}`);
        }
        if (accepted && refused.length) {
          throw new Error(`an accepted ${event.type} was refused too: ${JSON.stringify(refused)}`);
        }
      } else if (refused.length) {
        throw new Error(`a refusal on ${event.type}: ${JSON.stringify(refused)}`);
      }
      for (const socket of peer.sockets) {
        if (socket.violations.length) throw new Error(socket.violations.join('; '));
      }
      for (const s of Object.values(c.streams)) {
        const real = streamActor(s.sinkKey ?? s.key)?.getSnapshot() as
          AnyMachineSnapshot | undefined;
        if (s.state === 'failed') {
          if (real) throw new Error(`stream ${s.key} failed but its actor lives on`);
          continue;
        }
        if (!real) throw new Error(`stream ${s.key} is ${s.state} but has no actor`);
        const realName = (real.context as NetStreamContext).name;
        if (realName !== s.name)
          throw new Error(`stream ${s.key} plays ${s.name} in the summary, ${realName} really`);
        const ok =
          (s.state === 'waiting' && real.matches('idle')) ||
          (s.state === 'starting' && (real.matches('creating') || real.matches('requesting'))) ||
          (s.state === 'active' && real.matches('active')) ||
          (s.state === 'retrying' &&
            (real.matches('retrying') ||
              real.matches('creating') ||
              real.matches('requesting') ||
              real.matches('active'))) ||
          (s.state === 'interrupted' && real.matches('interrupted')) ||
          (s.state === 'relocating' && real.matches('relocating')) ||
          (s.state === 'migrating' && real.matches('active')) ||
          (s.state === 'stopping' && (real.matches('stopping') || real.matches('active')));
        if (!ok)
          throw new Error(
            `stream ${s.key} is ${s.state} in the summary, ${JSON.stringify(real.value)} really`,
          );
      }
      for (const conn of Object.values(c.connections)) {
        const real = child(conn.id)?.getSnapshot() as AnyMachineSnapshot | undefined;
        if (conn.state === 'failed') {
          if (real) throw new Error(`connection ${conn.id} failed but its actor lives on`);
          continue;
        }
        if (!real) throw new Error(`connection ${conn.id} is ${conn.state} but has no actor`);
        const ok =
          (conn.state === 'connecting' &&
            real.matches('session') &&
            !real.matches({ session: 'connected' })) ||
          (conn.state === 'up' && real.matches({ session: 'connected' })) ||
          (conn.state === 'down' && (real.matches('retrying') || real.matches('session'))) ||
          (conn.state === 'reconnecting' && real.matches({ session: 'reconnecting' })) ||
          (conn.state === 'closing' && real.matches({ session: 'closing' }));
        if (!ok)
          throw new Error(
            `connection ${conn.id} is ${conn.state} in the summary, ${JSON.stringify(real.value)} really`,
          );
      }
    };

    return { actor, peer, clock, realize, check };
  };

  return { machine, input, events, project, serializeState, harness };
}
