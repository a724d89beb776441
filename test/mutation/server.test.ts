/**
 * Mutants of the server machines (serverConnection, serverStream, serverSupervisor), each run by
 * the real server code, given the mutant in place of the original.
 *
 * serverConnection and serverStream mutants run on the real runtime, real bytes: the model
 * paths test/machines/serverMachines.test.ts replays through ServerRuntime
 * (src/testing/serverRuntime.ts: a real ServerConnection on an in-memory socket, a scripted
 * client's bytes, the real handshake and serverStream actors), the runtime composing the mutant
 * as RtmpServer does (ServerActors.connectionLogic), each step's replies decoded and checked,
 * the whole context compared with the original's (../machines/serverRuntimeModels.ts). Each
 * mutant of one of the two also runs under the other's real-bytes paths (a NetStream mutant under
 * the connection's paths; a connection mutant under the NetStream's, whose setup is a real
 * handshake, connect and createStream). A default run replays a deterministic sample of the
 * connection's paths (CONNECTION_SAMPLE); MUTATION_FULL=1 replays them all.
 *
 * serverSupervisor mutants run in a real RtmpServer (RtmpServerInternals.machines) with a real
 * listening socket and real clients on loopback.
 *
 * Then, for all three, the stand-in IO models (src/testing/models/server.ts): the walk's paths,
 * each replayed on the mutant with the real registries running the connection and NetStream
 * actors, plus directed paths. Which mutants only those kill is pinned (NOT_BY_REAL_BYTES), with
 * why the real runtime cannot show them.
 */
import { createServer, type AddressInfo } from 'node:net';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { serverConnectionMachine } from '../../machines/serverConnectionMachine';
import { serverStreamMachine } from '../../machines/serverStreamMachine';
import { buildCommand, buildConnect, buildPublish } from '../../src/protocol/message';
import {
  RtmpServer,
  type RtmpServerInternals,
  type RtmpServerOptions,
  type ServerEvent,
} from '../../src/server/server';
import {
  applyMutant,
  enumerateMutants,
  pathChecks,
  type MutationCheck,
} from '../../src/testing/mutation';
import {
  handshakeDone,
  serverModels,
  serverProject,
  serverSerializeState,
} from '../../src/testing/models/server';
import {
  pathFromEvents,
  replayPath,
  samplePaths,
  walkPaths,
  type ModelPath,
} from '../../src/testing/paths';
import {
  connectionRuntimeModel,
  runtimePaths,
  streamRuntimeModel,
  type RuntimeMachines,
  type RuntimeModel,
} from '../machines/serverRuntimeModels';
import { waitFor } from '../helpers';
import { RawClient } from '../helpers/rawClient';
import { describeMutation } from './describeMutation';

type ServerModel = (typeof serverModels)[number];

/** A handshake done, `connect` accepted and NetStream 1 created: where the directed paths start. */
const CONNECTED_WITH_STREAM_1 = [
  handshakeDone({ ok: true, peer: { version: 3, form: 'simple' } }),
  { type: 'SERVER.CONNECT', app: 'live' },
  { type: 'SERVER.STREAM_CREATED', streamId: 1 },
];

/**
 * What the walk never does (an event ignored takes no transition): a second createStream for an
 * id in use, a command for a stream never created.
 */
function directedChecks(model: ServerModel) {
  if (model.machine.id !== 'serverConnection') return [];
  const path = pathFromEvents(
    model.machine,
    [
      ...CONNECTED_WITH_STREAM_1,
      { type: 'SERVER.STREAM_CREATED', streamId: 1 },
      { type: 'SERVER.STREAM', streamId: 2, event: { type: 'STREAM.DELETE' } },
    ],
    { input: model.input as never, id: 'directed#1 a stream id in use, a stream never created' },
  );
  // The oracle replay skips what the model does not offer: offer the stray command too.
  const stray = path.steps.at(-1)!.event;
  return pathChecks(
    [path],
    replayOn(model, (s) => [...model.events(s), stray]),
  );
}

const replayOn =
  (model: ServerModel, events = model.events) =>
  (machine: AnyStateMachine, path: ModelPath) => {
    const record = replayPath(
      model.machine,
      path,
      model.harness(model.input, machine),
      model.oracle
        ? { mode: 'oracle', events, project: serverProject }
        : { project: serverProject },
    );
    // Every step of a connection's path happens (none is skipped as done already): its stand-in
    // IO answers nothing by itself (the supervisor's connections do close by themselves).
    if (model.machine.id === 'serverConnection' && record.skipped)
      throw new Error(`${record.skipped} steps of the path never happened`);
  };

function modelChecks(model: ServerModel) {
  const paths = walkPaths(model.machine, {
    input: model.input as never,
    events: model.events,
    serializeState: serverSerializeState,
  });
  return pathChecks(paths, replayOn(model));
}

const byId = (id: string): ServerModel => serverModels.find((m) => m.machine.id === id)!;

/** Which of the runtime's machines the mutant takes the place of. */
const ROLE: Record<string, keyof RuntimeMachines> = {
  serverConnection: 'connection',
  serverStream: 'stream',
};

/**
 * How many of the serverConnection model's real-bytes paths a default run replays (samplePaths:
 * every transition-completing path, each shortest path that takes a step no kept path takes,
 * then evenly spaced shortest paths). They kill what all 465 paths (simple ones too) kill;
 * MUTATION_FULL=1 replays them all.
 */
const CONNECTION_SAMPLE = 40;
const full = Boolean(process.env.MUTATION_FULL);

/** The real-bytes paths of a model: all of them (MUTATION_FULL=1, or serverStream's 23), or the sample. */
function realBytesPaths(model: RuntimeModel): ModelPath[] {
  if (full || model !== connectionRuntimeModel) return runtimePaths(model);
  const sample = samplePaths(runtimePaths(model, { simple: false }), CONNECTION_SAMPLE);
  return sample.paths;
}

/**
 * The real-bytes paths of `model`, each replayed (oracle mode, as serverMachines.test.ts does,
 * comparing the whole context too) on the real runtime running the mutant of `id`.
 */
function realBytesChecks(id: string, model: RuntimeModel) {
  return pathChecks(
    realBytesPaths(model),
    (machine: AnyStateMachine, path: ModelPath) => {
      replayPath(model.machine, path, model.harness(path, { [ROLE[id]]: machine as never }), {
        mode: 'oracle',
        events: model.events,
        project: serverProject,
      });
    },
    `real bytes, ${model.machine.id} `,
  );
}

/**
 * What the real-bytes walk never does: the client closes and deletes a NetStream that ended in
 * a refusal (the ServerSession still forwards both; the machine forgot the stream).
 */
function directedRuntimeChecks() {
  const model = connectionRuntimeModel;
  const strays = [
    { type: 'SERVER.STREAM', streamId: 1, event: { type: 'STREAM.END' } },
    { type: 'SERVER.STREAM', streamId: 1, event: { type: 'STREAM.DELETE' } },
  ];
  const path = pathFromEvents(
    model.machine,
    [
      ...CONNECTED_WITH_STREAM_1,
      { type: 'SERVER.STREAM_ROLE', streamId: 1, role: 'authorizing' },
      { type: 'xstate.done.actor.stream-1', actorId: 'stream-1' },
      ...strays,
    ],
    {
      input: model.input as never,
      id: 'directed#1 closeStream and deleteStream on a NetStream refused',
    },
  );
  const events = (s: AnyMachineSnapshot) => [...model.events(s), ...strays];
  return pathChecks(
    [path],
    (machine: AnyStateMachine, p: ModelPath) => {
      replayPath(model.machine, p, model.harness(p, { connection: machine as never }), {
        mode: 'oracle',
        events,
        project: serverProject,
      });
    },
    'real bytes, serverConnection ',
  );
}

/** A server machine's real-bytes checks: its own model's paths, then the other's. */
function runtimeChecks(id: string): Array<MutationCheck<AnyStateMachine>> {
  if (id === 'serverSupervisor') return supervisorSocketChecks();
  if (!(id in ROLE)) return [];
  const own = id === 'serverConnection' ? connectionRuntimeModel : streamRuntimeModel;
  const other = id === 'serverConnection' ? streamRuntimeModel : connectionRuntimeModel;
  return [
    ...realBytesChecks(id, own),
    ...(id === 'serverConnection' ? directedRuntimeChecks() : []),
    ...realBytesChecks(id, other),
  ];
}

// ------------------------------------------------------------ the supervisor on real sockets

/**
 * How long a real server on loopback may take to accept, answer or close (generous: it takes
 * milliseconds). No mutant waits it out: what the server decides on an accepted socket is
 * carried out in the same tick (see `admit`).
 */
const SOCKET_DEADLINE_MS = 10_000;

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A real RtmpServer on loopback running `supervisor`, its events, and real clients. */
class RealServer {
  readonly server: RtmpServer;
  readonly events: ServerEvent[] = [];
  readonly clients: RawClient[] = [];
  /** Accepted sockets the supervisor has been told of. */
  private accepts = 0;

  constructor(supervisor: AnyStateMachine, options: RtmpServerOptions) {
    this.server = new RtmpServer(
      {
        port: 0,
        handshakeTimeoutMs: 60_000,
        connectTimeoutMs: 60_000,
        ...options,
        inspect: (ev) => {
          if (ev.type === '@xstate.event' && ev.event.type === 'LISTENER.ACCEPT') this.accepts++;
        },
      },
      { machines: { supervisor: supervisor as never } },
    );
    this.server.events$.subscribe((e) => this.events.push(e));
  }

  private count(type: ServerEvent['type']): number {
    return this.events.filter((e) => e.type === type).length;
  }

  /**
   * A client connects: once its socket is accepted and the supervisor told, the server has
   * decided in that same tick: `served` (a connection started; the handshake is answered),
   * `refused` (the socket is closed), or `ignored` (neither: the socket hangs).
   */
  async admit(): Promise<'served' | 'refused' | 'ignored'> {
    const [accepts, connections, refused] = [
      this.accepts,
      this.count('connection'),
      this.count('refused'),
    ];
    const client = new RawClient(this.server.port!);
    this.clients.push(client);
    if (!(await waitFor(() => this.accepts > accepts, SOCKET_DEADLINE_MS))) {
      throw new Error('the listener never accepted the client');
    }
    await nextTick();
    if (this.count('refused') > refused) {
      expect(await waitFor(() => client.closed, SOCKET_DEADLINE_MS)).toBe(true);
      return 'refused';
    }
    if (this.count('connection') > connections) {
      expect(await waitFor(() => client.handshaken, SOCKET_DEADLINE_MS)).toBe(true);
      return 'served';
    }
    return 'ignored';
  }

  refusals(): string[] {
    return this.events.flatMap((e) => (e.type === 'refused' ? [e.reason.split(':')[0]] : []));
  }

  closes(): string[] {
    return this.events.flatMap((e) => (e.type === 'close' ? [e.reason] : []));
  }

  /**
   * Ends the check: clients gone, the server told to close and its actor stopped a tick later
   * (a mutant's may never finish closing; the original's graceful close is checked above).
   */
  async dispose(): Promise<void> {
    for (const c of this.clients) c.close();
    void this.server.close();
    await nextTick();
    this.server.actor.stop();
  }
}

/**
 * The supervisor mutants on the real server (RtmpServer given the mutant, a real listening
 * socket, real clients on loopback): admission and refusal at each limit, a slot freed, the
 * shutdown, a port in use.
 */
function supervisorSocketChecks(): Array<MutationCheck<AnyStateMachine>> {
  return [
    {
      name: 'real sockets: serves up to maxConnections, refuses the next naming the limit, serves again once a client left, and on shutdown closes every client and stops listening',
      async run(machine) {
        const rs = new RealServer(machine, { maxConnections: 1, maxConnectionsPerAddress: 0 });
        try {
          await rs.server.listen();
          const port = rs.server.port!;
          expect(await rs.admit()).toBe('served');
          expect(await rs.admit()).toBe('refused');
          expect(rs.refusals()).toEqual(['maxConnections']);
          rs.clients[0].close();
          // The registry reports the connection ended; the supervisor frees its slot.
          expect(await waitFor(() => rs.closes().length === 1, SOCKET_DEADLINE_MS)).toBe(true);
          await nextTick();
          expect(await rs.admit()).toBe('served');
          let stopped = false;
          void rs.server.close().then(() => (stopped = true));
          await nextTick();
          // At once: the connection left is closed, saying why...
          expect(rs.closes()).toEqual(['closed by peer', 'server shutting down']);
          // ...and the port no longer accepts (a client is refused by the OS, not the server).
          const late = new RawClient(port);
          rs.clients.push(late);
          expect(await waitFor(() => late.closed, SOCKET_DEADLINE_MS)).toBe(true);
          expect(rs.refusals()).toEqual(['maxConnections']);
          expect(await waitFor(() => stopped, SOCKET_DEADLINE_MS)).toBe(true);
          expect(rs.server.actor.getSnapshot().value).toBe('stopped');
        } finally {
          await rs.dispose();
        }
      },
    },
    {
      name: 'real sockets: refuses a second client from one address beyond maxConnectionsPerAddress, naming that limit',
      async run(machine) {
        const rs = new RealServer(machine, { maxConnections: 4, maxConnectionsPerAddress: 1 });
        try {
          await rs.server.listen();
          expect(await rs.admit()).toBe('served');
          expect(await rs.admit()).toBe('refused');
          expect(rs.refusals()).toEqual(['maxConnectionsPerAddress']);
        } finally {
          await rs.dispose();
        }
      },
    },
    {
      name: 'real sockets: a port in use fails listen() with the reason and ends the server in failed',
      async run(machine) {
        const taken = createServer();
        await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
        const rs = new RealServer(machine, { port: (taken.address() as AddressInfo).port });
        try {
          await expect(rs.server.listen()).rejects.toThrow(/EADDRINUSE/);
          expect(rs.server.actor.getSnapshot().value).toBe('failed');
        } finally {
          await rs.dispose();
          await new Promise<void>((resolve) => taken.close(() => resolve()));
        }
      },
    },
  ];
}

/**
 * Not reached by any model (0 relevant checks: neither the real bytes nor the stand-in IO ever
 * make the guard answer false, and no real session can either).
 */
const SURVIVORS: Record<string, Record<string, string>> = {
  serverConnection: {
    'guard:isStreamDone:true':
      'cannot be observed: while connected the only actors whose end reaches the connection are its NetStreams (stream-N, run by the streams registry with the connection as their parent); the handshake finished before connected, and the io and streams children are callback actors that never finish (they stop, or fail with an error event), so the guard never answers false, on real bytes as on the stand-in IO',
  },
  serverStream: {},
  serverSupervisor: {},
};

/**
 * Killed, but not by the real bytes: the real runtime cannot make the guard answer otherwise
 * (the stand-in IO's directed path does, and checks what the registry is told).
 */
const NOT_BY_REAL_BYTES: Record<string, Record<string, string>> = {
  serverConnection: {
    'guard:streamIdFree:true':
      'the ServerSession reports SERVER.STREAM_CREATED only for an id it has no live NetStream on (a new createStream id, or one whose NetStream ended, which the machine forgot on its done event), so no bytes make the guard answer false',
    'guard:streamKnown:true':
      'the ServerSession forwards commands only for ids it knows; closeStream and deleteStream on a NetStream that ended in a refusal (forgotten by the machine) are forwarded, so the guard answers false (real bytes directed#1), but the streams registry has no actor left for that id and drops the event the mutant forwards: nothing differs on the wire or in the machine',
  },
  serverStream: {},
};

/** Supervisor mutants the real server on loopback does not kill, and why. */
const NOT_BY_REAL_SOCKETS: Record<string, string> = {};

for (const id of ['serverConnection', 'serverStream', 'serverSupervisor']) {
  const model = byId(id);
  describeMutation({
    machine: model.machine,
    checks: () => [...runtimeChecks(id), ...directedChecks(model), ...modelChecks(model)],
    survivors: SURVIVORS[id],
    killedFirstBy:
      id in ROLE
        ? { prefix: 'real bytes', except: NOT_BY_REAL_BYTES[id] }
        : { prefix: 'real sockets', except: NOT_BY_REAL_SOCKETS },
    ...(id in ROLE && !full
      ? {
          sample: `real bytes: ${CONNECTION_SAMPLE} of the serverConnection model's shortest and transition-completing paths (samplePaths), every serverStream path; stand-in IO: every path (MUTATION_FULL=1 replays every real-bytes path, simple ones too)`,
        }
      : {}),
  });
}

describe('the real server runs the machines it is given (the mutants above run there)', () => {
  const mutant = (machine: AnyStateMachine, id: string) =>
    applyMutant(
      machine,
      enumerateMutants(machine).find((m) => m.id === id)!,
    );

  async function session(machines: RtmpServerInternals['machines']) {
    const server = new RtmpServer({ port: 0 }, { machines });
    await server.listen();
    const client = new RawClient(server.port!);
    expect(await waitFor(() => client.handshaken, SOCKET_DEADLINE_MS)).toBe(true);
    /** The status codes of what the server sent (onStatus, _error; not _result). */
    const codes = (): string[] =>
      client.received.flatMap((m) =>
        m.type === 'Command' && m.name !== '_result'
          ? [String((m.args[0] as { code?: unknown } | undefined)?.code)]
          : [],
      );
    return { server, client, codes };
  }

  it('rejects every connect with a serverConnection whose appAllowed is constantly false', async () => {
    const { server, client, codes } = await session({
      connection: mutant(serverConnectionMachine, 'guard:appAllowed:false') as never,
    });
    try {
      client.send(buildConnect({ app: 'live', tcUrl: 'rtmp://127.0.0.1/live' }));
      expect(await waitFor(() => codes().length > 0, SOCKET_DEADLINE_MS)).toBe(true);
      expect(codes()).toEqual(['NetConnection.Connect.Rejected']);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('refuses every publish with a serverStream whose allowed is constantly false', async () => {
    const { server, client, codes } = await session({
      stream: mutant(serverStreamMachine, 'guard:allowed:false') as never,
    });
    try {
      client.send(buildConnect({ app: 'live', tcUrl: 'rtmp://127.0.0.1/live' }));
      client.send(buildCommand('createStream', null, [], { transactionId: 2 }));
      client.send(buildPublish('cam', 'live', { streamId: 1 }));
      const refused = (): boolean => codes().includes('NetStream.Publish.Unauthorized');
      expect(await waitFor(refused, SOCKET_DEADLINE_MS)).toBe(true);
      // (the original allows everyone: NetStream.Publish.Start)
      expect(codes()).toEqual(['NetStream.Publish.Unauthorized']);
    } finally {
      client.close();
      await server.close();
    }
  });
});
