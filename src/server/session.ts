/**
 * The server side of one RTMP connection, sans-IO: every decision the embedded server takes on
 * what a client sends, and nothing else. Input: a decoded message (or a byte count, or what the
 * serverConnection actor, the authorizer or the stream registry answered); output: a list of
 * effects, in order — messages to write, events for the serverConnection actor, questions for
 * the stream registry, log events. No socket, timer, clock or RNG of its own (the clock is
 * passed in), no rxjs, no xstate: the lint rules in eslint.config.js hold it to that.
 *
 * What it decides: the command switch (connect, createStream, publish, play, pause,
 * deleteStream, closeStream, FCPublish / releaseStream / FCUnpublish / FCSubscribe /
 * _checkbw / getStreamLength, anything else), every reply (`_result`, `_error`, onStatus codes
 * and texts, the connect preamble, the play preamble), message stream id allocation and the
 * `maxStreams` bound, BadName for a missing or taken name, StreamNotFound, the authorizer's
 * refusal and rename, which NetStream's media is relayed, and the control duties
 * (acknowledgements, pings, chunk sizes: the shared {@link ControlDuties}).
 *
 * What the statecharts decide (machines/serverConnectionMachine, serverStreamMachine): the
 * phases and their timeouts, whether the application is served (connect accepted or refused),
 * and the authorization (with its timeout); the runtime brings their answers here
 * ({@link ServerSession.acceptConnect}, {@link ServerSession.authorization}).
 *
 * Why this is not machine context: it holds stream names, which are stream keys. The machines
 * only ever see masked labels (`ca***`), so no key reaches a snapshot, the inspector or a trace.
 */
import type { ServerIoEvent } from '../../machines/serverConnectionMachine';
import type { ServerStreamAction, ServerStreamEvent } from '../../machines/serverStreamMachine';
import type { AmfValue } from '../protocol/amf/types';
import {
  acknowledgement,
  ControlDuties,
  type ControlDutiesLimits,
} from '../protocol/controlDuties';
import {
  buildData,
  buildError,
  buildOnStatus,
  buildResult,
  StatusCode,
} from '../protocol/message/commands';
import { serverCapabilityProperties } from '../protocol/message/capabilities';
import type { RtmpMessage, StatusInfo } from '../protocol/message/types';
import { RefusalStatus, splitStreamName, type AuthorizeRequest } from './request';
import type { ConnectionEvent } from './events';
import { maskStreamName } from './log';
import type { MediaMessage } from './media';

/** The connection's phase, as the session sees it from what it was told. */
export type SessionPhase = 'handshake' | 'awaitingConnect' | 'connected' | 'closed';

/**
 * What a NetStream does, as the session sees it. `ended`: it ended in BadName, StreamNotFound
 * or a refusal (its serverStream actor is final): a new publish or play on its id starts anew.
 */
export type SessionStreamRole = 'created' | 'authorizing' | 'publishing' | 'playing' | 'ended';

/** A publish or play waiting for the authorizer (kept here: it holds the stream key). */
export interface PendingRequest {
  request: AuthorizeRequest;
  /** The name the authorizer asked to use instead (nginx-rtmp's 3xx redirect). */
  renamed?: string;
  /** The full name as sent (with its query). */
  fullName: string;
}

/**
 * The authorizer decided on `pending`: a request it allowed under another name (nginx-rtmp's
 * redirect) goes on under that name, its query kept, once its serverStream actor is authorized.
 */
export function applyDecision(
  pending: PendingRequest,
  decision: { allowed: boolean; name?: string },
): void {
  if (decision.allowed && decision.name !== undefined) pending.renamed = decision.name;
}

/** What the registry of live streams answered to a publish. */
export type ClaimOutcome = 'ok' | 'badName';
/** What the registry answered to a play: on air, may come, or not found. */
export type LookUpOutcome = 'playing' | 'waiting' | 'notFound';

/** One thing the runtime must do, in order. */
export type SessionEffect =
  /** Write this message. */
  | { kind: 'send'; message: RtmpMessage }
  /** Write Set Chunk Size and frame what follows with it. */
  | { kind: 'setChunkSize'; chunkSize: number }
  /** Tell the serverConnection actor. */
  | { kind: 'report'; event: ServerIoEvent }
  /** Log (the server's event stream). */
  | { kind: 'log'; event: ConnectionEvent }
  /** Ask the registry to publish `name`; answer with {@link ServerSession.claimed}. */
  | { kind: 'claim'; streamId: number; name: string }
  /** Ask the registry whether `name` can be played; answer with {@link ServerSession.lookedUp}. */
  | { kind: 'lookUp'; streamId: number; name: string }
  /** NetStream `streamId` stops publishing `name`. */
  | { kind: 'release'; streamId: number; name: string }
  /** NetStream `streamId` plays `name`: attach a player (the registry sends it the cached media). */
  | { kind: 'addPlayer'; streamId: number; name: string }
  /** NetStream `streamId` stops playing `name`: detach its player (and log how many it dropped). */
  | { kind: 'removePlayer'; streamId: number; name: string }
  /** Pause or resume NetStream `streamId`'s player (resumed: from the next keyframe). */
  | { kind: 'pausePlayer'; streamId: number; paused: boolean }
  /** Relay a publisher's media to the players of `name`. */
  | { kind: 'relay'; name: string; message: MediaMessage }
  /** An allowed publish or play ended (the authorizer's on_done). */
  | { kind: 'ended'; request: AuthorizeRequest }
  /** Close the connection; `linger`: let what was written go out first. */
  | { kind: 'close'; reason: string; linger: boolean };

export interface ServerSessionOptions {
  /** The server's number for the connection (nginx-rtmp's `clientid`). */
  connectionId: number;
  /** The client's address and port (for the authorizer). */
  remote: string;
  /** The chunk size we announce after connect. */
  chunkSize: number;
  /** The Window Acknowledgement Size (and Set Peer Bandwidth) we announce after connect. */
  windowAckSize: number;
  /** Most NetStreams per connection (`limits.maxStreams`). */
  maxStreams: number;
  /** Bounds of the control duties (the server's `minAckWindow`, `maxPingsPerSecond`). */
  duties: ControlDutiesLimits;
  /** At most one SERVER.RECEIVING report per this many ms. */
  receivingReportMs: number;
  /** The clock at the start (ms). */
  now: number;
}

interface SessionStream {
  id: number;
  role: SessionStreamRole;
  /** The name published or played (set once the registry took it). */
  name?: string;
  pending?: PendingRequest;
  /** The allowed publish or play (for the on_done hook when it ends). */
  allowed?: AuthorizeRequest;
}

type Command = Extract<RtmpMessage, { type: 'Command' }>;

/** The server's version string in connect's `_result` (what FMS answered; clients print it). */
const FMS_VERSION = 'FMS/3,5,7,7009';
/** Chunk stream of command replies (`_result`, `_error`). */
const COMMAND_CSID = 3;
/** Chunk stream of onStatus and data messages on a NetStream. */
const STREAM_CSID = 5;
/** Set Peer Bandwidth limit type: dynamic. */
const LIMIT_DYNAMIC = 2;

const NONE: readonly SessionEffect[] = Object.freeze([]);

function stringArg(v: AmfValue | undefined): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function objectProp(o: AmfValue, key: string): AmfValue | undefined {
  if (
    typeof o !== 'object' ||
    o === null ||
    Array.isArray(o) ||
    o instanceof Date ||
    o instanceof Uint8Array
  ) {
    return undefined;
  }
  return (o as Record<string, AmfValue>)[key];
}

/** The application connect names: without slashes at either end, nor a query. */
export function connectApp(commandObject: AmfValue): string {
  const sent = stringArg(objectProp(commandObject, 'app'));
  const q = sent.indexOf('?');
  // The query first: `live/?token=x` is the application `live`.
  return (q < 0 ? sent : sent.slice(0, q)).replace(/^\/+|\/+$/g, '');
}

/**
 * A stream's name as the registry knows it: without the request's query (`cam?token=...` and
 * `cam` are one stream), so a publish's or play's label names the stream, not the request.
 */
function withoutQuery(name: string): string {
  const q = name.indexOf('?');
  return q < 0 ? name : name.slice(0, q);
}

function status(streamId: number, level: string, code: string, description: string): RtmpMessage {
  const info: StatusInfo = { level, code, description };
  return buildOnStatus(info, { streamId, csid: STREAM_CSID });
}

function send(message: RtmpMessage): SessionEffect {
  return { kind: 'send', message };
}

function streamEvent(streamId: number, event: ServerStreamEvent): SessionEffect {
  return { kind: 'report', event: { type: 'SERVER.STREAM', streamId, event } };
}

function result(transactionId: number, properties: AmfValue, info: AmfValue): SessionEffect {
  return send(buildResult(transactionId, properties, info, { csid: COMMAND_CSID }));
}

function error(transactionId: number, code: string, description: string): SessionEffect {
  return send(
    buildError(transactionId, null, { level: 'error', code, description }, { csid: COMMAND_CSID }),
  );
}

export class ServerSession {
  private phaseValue: SessionPhase = 'handshake';
  /** The application the client connected to. */
  app = '';
  /** What the client's connect said (for the authorizer). */
  private connectInfo = { tcUrl: '', flashVer: '', swfUrl: '', pageUrl: '' };
  /** The connect command being answered (by the serverConnection actor). */
  private pendingConnect: Command | undefined;
  private readonly streams = new Map<number, SessionStream>();
  private nextStreamId = 1;
  private lastReceivingReport = Number.NEGATIVE_INFINITY;
  /** Acknowledgements, pings, chunk sizes (shared with the client). */
  readonly duties: ControlDuties;

  constructor(private readonly options: ServerSessionOptions) {
    this.duties = new ControlDuties(options.duties, options.now);
  }

  get phase(): SessionPhase {
    return this.phaseValue;
  }

  /** NetStreams by role (for stats). */
  countStreams(role: SessionStreamRole): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.role === role) n++;
    return n;
  }

  /** The role of NetStream `streamId` (undefined: none). */
  roleOf(streamId: number): SessionStreamRole | undefined {
    return this.streams.get(streamId)?.role;
  }

  /** The publish or play NetStream `streamId` waits to have authorized (for the authorizer). */
  pendingRequest(streamId: number): PendingRequest | undefined {
    return this.streams.get(streamId)?.pending;
  }

  /** The handshake completed: only connect is expected now. */
  handshakeDone(): void {
    if (this.phaseValue === 'handshake') this.phaseValue = 'awaitingConnect';
  }

  /**
   * `total` bytes arrived in all: an Acknowledgement when a window is due, and SERVER.RECEIVING
   * at most once per `receivingReportMs`.
   */
  bytesReceived(total: number, now: number): readonly SessionEffect[] {
    const out: SessionEffect[] = [];
    if (now - this.lastReceivingReport >= this.options.receivingReportMs) {
      this.lastReceivingReport = now;
      out.push({ kind: 'report', event: { type: 'SERVER.RECEIVING' } });
    }
    const ack = this.duties.bytesReceived(total);
    if (ack !== undefined) out.push(send(acknowledgement(ack)));
    return out.length ? out : NONE;
  }

  /** A decoded message from the client. */
  message(m: RtmpMessage, now: number): readonly SessionEffect[] {
    switch (m.type) {
      case 'Command':
        return this.command(m);
      case 'Audio':
      case 'Video':
      case 'Data':
        return this.media(m);
      case 'Aggregate': {
        const out: SessionEffect[] = [];
        for (const sub of m.messages) {
          if (sub.type === 'Audio' || sub.type === 'Video' || sub.type === 'Data') {
            out.push(...this.media({ ...sub, streamId: m.streamId }));
          }
        }
        return out;
      }
      default:
        // WindowAckSize, PingRequest, SetChunkSize; Acknowledgement and SetPeerBandwidth need nothing.
        return this.duties.receive(m, now).map(send);
    }
  }

  private media(m: MediaMessage): readonly SessionEffect[] {
    const s = this.streams.get(m.streamId);
    if (s?.role !== 'publishing' || s.name === undefined) return NONE;
    return [{ kind: 'relay', name: s.name, message: m }];
  }

  private command(m: Command): readonly SessionEffect[] {
    const tid = m.transactionId;
    if (this.phaseValue === 'awaitingConnect') {
      if (m.name === 'connect') return this.connect(m);
      return tid ? [error(tid, 'NetConnection.Call.Failed', `${m.name} before connect`)] : NONE;
    }
    if (this.phaseValue !== 'connected') return NONE;
    switch (m.name) {
      case 'createStream':
        return this.createStreamCommand(tid);
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
      case 'FCSubscribe':
      case '_checkbw':
        return tid ? [result(tid, null, null)] : NONE;
      case 'getStreamLength':
        return tid ? [result(tid, null, 0)] : NONE;
      case 'publish':
        return this.publish(m.streamId, stringArg(m.args[0]), stringArg(m.args[1]) || 'live');
      case 'play':
        return this.play(m.streamId, stringArg(m.args[0]), m.args[1], m.args[2], m.args[3]);
      case 'pause':
        return this.pause(m.streamId, m.args[0] === true);
      case 'deleteStream':
        return this.endStream(Number(m.args[0]), true);
      case 'closeStream':
        return this.endStream(m.streamId, false);
      case 'receiveAudio':
      case 'receiveVideo':
        return NONE;
      default:
        return tid ? [error(tid, 'NetConnection.Call.Failed', `unknown command ${m.name}`)] : NONE;
    }
  }

  private connect(m: Command): readonly SessionEffect[] {
    this.app = connectApp(m.commandObject);
    this.pendingConnect = m;
    const capsEx = objectProp(m.commandObject, 'capsEx');
    return [
      {
        kind: 'report',
        event: {
          type: 'SERVER.CONNECT',
          app: this.app,
          ...(typeof capsEx === 'number' ? { capsEx } : {}),
        },
      },
    ];
  }

  /**
   * The serverConnection actor decided to ask the client to reconnect (Enhanced RTMP v2): the
   * onStatus NetConnection.Connect.ReconnectRequest on stream 0, with the new tcUrl if any.
   */
  reconnectRequest(tcUrl: string | undefined, description: string): readonly SessionEffect[] {
    return [
      {
        kind: 'send',
        message: buildOnStatus(
          {
            level: 'status',
            code: StatusCode.ConnectReconnectRequest,
            description,
            ...(tcUrl !== undefined ? { tcUrl } : {}),
          },
          { csid: 3 },
        ),
      },
    ];
  }

  /**
   * The serverConnection actor accepted connect: Window Acknowledgement Size, Set Peer
   * Bandwidth, Set Chunk Size, StreamBegin 0, then `_result` NetConnection.Connect.Success.
   */
  acceptConnect(): readonly SessionEffect[] {
    const m = this.pendingConnect;
    if (!m) return NONE;
    this.pendingConnect = undefined;
    this.phaseValue = 'connected';
    const obj = m.commandObject;
    this.connectInfo = {
      tcUrl: stringArg(objectProp(obj, 'tcUrl')),
      flashVer: stringArg(objectProp(obj, 'flashVer')),
      swfUrl: stringArg(objectProp(obj, 'swfUrl')),
      pageUrl: stringArg(objectProp(obj, 'pageUrl')),
    };
    const window = this.options.windowAckSize;
    const objectEncoding = objectProp(obj, 'objectEncoding');
    return [
      send({ type: 'WindowAckSize', windowSize: window, timestamp: 0, streamId: 0 }),
      send({
        type: 'SetPeerBandwidth',
        windowSize: window,
        limitType: LIMIT_DYNAMIC,
        timestamp: 0,
        streamId: 0,
      }),
      { kind: 'setChunkSize', chunkSize: this.duties.announceChunkSize(this.options.chunkSize) },
      send({ type: 'UserControl', event: 'StreamBegin', streamId: 0, timestamp: 0 }),
      result(
        m.transactionId,
        // Enhanced RTMP v2: the server states what it supports (legacy clients ignore it).
        { fmsVer: FMS_VERSION, capabilities: 31, mode: 1, ...serverCapabilityProperties() },
        {
          level: 'status',
          code: StatusCode.ConnectSuccess,
          description: 'Connection succeeded.',
          objectEncoding: typeof objectEncoding === 'number' ? objectEncoding : 0,
        },
      ),
      {
        kind: 'log',
        event: {
          type: 'connect',
          app: this.app,
          tcUrl: this.connectInfo.tcUrl,
          flashVer: this.connectInfo.flashVer,
        },
      },
    ];
  }

  /**
   * The serverConnection actor refused connect (an application it does not serve): `_error`
   * NetConnection.Connect.Rejected, and close once the answer is out.
   */
  rejectConnect(description: string): readonly SessionEffect[] {
    const m = this.pendingConnect;
    this.pendingConnect = undefined;
    return [
      ...(m ? [error(m.transactionId, StatusCode.ConnectRejected, description)] : []),
      { kind: 'close', reason: `connect rejected: ${description}`, linger: true },
    ];
  }

  private createStreamCommand(tid: number): readonly SessionEffect[] {
    const max = this.options.maxStreams;
    if (this.streams.size >= max) {
      return [
        error(tid, 'NetStream.Create.Failed', `at most ${max} streams per connection (maxStreams)`),
      ];
    }
    while (this.streams.has(this.nextStreamId)) this.nextStreamId++;
    const id = this.nextStreamId++;
    return [this.newStream(id), result(tid, null, id)];
  }

  /** A new NetStream: the serverConnection actor spawns its serverStream actor. */
  private newStream(id: number): SessionEffect {
    this.streams.set(id, { id, role: 'created' });
    return { kind: 'report', event: { type: 'SERVER.STREAM_CREATED', streamId: id } };
  }

  /**
   * The NetStream a publish or play names, made when needed: a command on an id never created
   * gets one (lenient, as nginx-rtmp), and one that ended (BadName, not found, refused) a new
   * one. Undefined (with the refusal in `out`) when that would exceed `maxStreams`.
   */
  private streamFor(id: number, out: SessionEffect[]): SessionStream | undefined {
    const s = this.streams.get(id);
    if (s && s.role !== 'ended') return s;
    const max = this.options.maxStreams;
    if (!s && this.streams.size >= max) {
      out.push(
        send(
          status(
            id,
            'error',
            'NetStream.Failed',
            `at most ${max} streams per connection (maxStreams)`,
          ),
        ),
      );
      return undefined;
    }
    this.streams.delete(id);
    out.push(this.newStream(id));
    return this.streams.get(id);
  }

  /** publish or play arrived: the NetStream's actor authorizes it (nothing is claimed yet). */
  private request(
    streamId: number,
    fullName: string,
    action: ServerStreamAction,
    extra: Pick<AuthorizeRequest, 'type' | 'start' | 'duration' | 'reset'>,
  ): readonly SessionEffect[] {
    const out: SessionEffect[] = [];
    const s = this.streamFor(streamId, out);
    if (!s) return out;
    if (s.role !== 'created') out.push(...this.endStream(streamId, false));
    const { name, query } = splitStreamName(fullName);
    s.role = 'authorizing';
    s.pending = {
      fullName,
      request: {
        action,
        app: this.app,
        name,
        query,
        remote: this.options.remote,
        connection: this.options.connectionId,
        ...this.connectInfo,
        ...extra,
      },
    };
    out.push(
      streamEvent(streamId, { type: 'STREAM.REQUEST', action, label: maskStreamName(fullName) }),
    );
    return out;
  }

  private publish(streamId: number, name: string, type: string): readonly SessionEffect[] {
    if (name) return this.request(streamId, name, 'publish', { type });
    const out: SessionEffect[] = [];
    this.streamFor(streamId, out);
    out.push(send(status(streamId, 'error', StatusCode.PublishBadName, 'no stream name')));
    return out;
  }

  private play(
    streamId: number,
    name: string,
    start: AmfValue | undefined,
    duration: AmfValue | undefined,
    reset: AmfValue | undefined,
  ): readonly SessionEffect[] {
    if (name) {
      return this.request(streamId, name, 'play', {
        start: typeof start === 'number' ? start : undefined,
        duration: typeof duration === 'number' ? duration : undefined,
        reset: reset === true || reset === 1,
      });
    }
    const out: SessionEffect[] = [];
    this.streamFor(streamId, out);
    out.push(send(status(streamId, 'error', StatusCode.PlayStreamNotFound, 'No stream named .')), {
      kind: 'log',
      event: { type: 'notFound', streamId, name },
    });
    return out;
  }

  /**
   * The authorizer decided on NetStream `streamId`'s publish or play (through its serverStream
   * and serverConnection actors): refuse it, or ask the registry for the name (renamed if the
   * authorizer said so, the query kept).
   */
  authorization(
    streamId: number,
    action: ServerStreamAction,
    allowed: boolean,
    reason: string | undefined,
  ): readonly SessionEffect[] {
    const s = this.streams.get(streamId);
    const pending = s?.pending;
    if (!s || !pending || pending.request.action !== action || this.phaseValue === 'closed') {
      return NONE;
    }
    s.pending = undefined;
    if (!allowed) {
      const why = reason ?? 'refused';
      s.role = 'ended';
      return [
        send(
          status(
            streamId,
            'error',
            RefusalStatus[action],
            `${action === 'publish' ? 'Publishing' : 'Playing'} ${pending.request.name} is not allowed: ${why}.`,
          ),
        ),
        {
          kind: 'log',
          event: {
            type: 'unauthorized',
            streamId,
            name: pending.request.name,
            action,
            reason: why,
          },
        },
      ];
    }
    // nginx-rtmp's redirect: the authorizer renamed the stream (the query stays).
    const q = pending.fullName.indexOf('?');
    const fullName =
      pending.renamed === undefined
        ? pending.fullName
        : `${pending.renamed}${q < 0 ? '' : pending.fullName.slice(q)}`;
    s.allowed =
      pending.renamed === undefined
        ? pending.request
        : { ...pending.request, name: pending.renamed };
    s.name = fullName;
    return [{ kind: action === 'publish' ? 'claim' : 'lookUp', streamId, name: fullName }];
  }

  /** The registry answered a claim: NetStream.Publish.Start, or BadName (published already). */
  claimed(streamId: number, outcome: ClaimOutcome): readonly SessionEffect[] {
    const s = this.streams.get(streamId);
    const name = s?.name;
    if (!s || name === undefined) return NONE;
    const report = streamEvent(streamId, {
      type: 'STREAM.PUBLISH',
      label: maskStreamName(withoutQuery(name)),
      outcome,
    });
    if (outcome === 'badName') {
      s.role = 'ended';
      s.name = undefined;
      s.allowed = undefined;
      return [
        report,
        send(
          status(
            streamId,
            'error',
            StatusCode.PublishBadName,
            `${name} is already being published`,
          ),
        ),
        { kind: 'log', event: { type: 'badName', streamId, name } },
      ];
    }
    s.role = 'publishing';
    return [
      report,
      send({ type: 'UserControl', event: 'StreamBegin', streamId, timestamp: 0 }),
      send(status(streamId, 'status', StatusCode.PublishStart, `${name} is now published.`)),
      { kind: 'log', event: { type: 'publish', streamId, name } },
    ];
  }

  /**
   * The registry answered a look-up: StreamNotFound, or the play preamble (StreamBegin,
   * Play.Reset, Play.Start, |RtmpSampleAccess) before the player is attached (which sends the
   * cached media).
   */
  lookedUp(streamId: number, outcome: LookUpOutcome): readonly SessionEffect[] {
    const s = this.streams.get(streamId);
    const name = s?.name;
    if (!s || name === undefined) return NONE;
    const report = streamEvent(streamId, {
      type: 'STREAM.PLAY',
      label: maskStreamName(withoutQuery(name)),
      outcome,
    });
    if (outcome === 'notFound') {
      s.role = 'ended';
      s.name = undefined;
      s.allowed = undefined;
      return [
        report,
        send(status(streamId, 'error', StatusCode.PlayStreamNotFound, `No stream named ${name}.`)),
        { kind: 'log', event: { type: 'notFound', streamId, name } },
      ];
    }
    s.role = 'playing';
    return [
      report,
      send({ type: 'UserControl', event: 'StreamBegin', streamId, timestamp: 0 }),
      send(status(streamId, 'status', StatusCode.PlayReset, `Playing and resetting ${name}.`)),
      send(status(streamId, 'status', StatusCode.PlayStart, `Started playing ${name}.`)),
      send(buildData('|RtmpSampleAccess', [true, true], { streamId, csid: STREAM_CSID })),
      { kind: 'addPlayer', streamId, name },
      { kind: 'log', event: { type: 'play', streamId, name, waiting: outcome === 'waiting' } },
    ];
  }

  /** The publisher of what NetStream `streamId` plays went on air. */
  publisherStarted(streamId: number): readonly SessionEffect[] {
    const s = this.streams.get(streamId);
    if (s?.role !== 'playing' || s.name === undefined) return NONE;
    return [
      streamEvent(streamId, { type: 'STREAM.PUBLISHER_STARTED' }),
      send(status(streamId, 'status', StatusCode.PlayPublishNotify, `${s.name} is now published.`)),
    ];
  }

  /** The publisher of what NetStream `streamId` plays stopped. */
  publisherStopped(streamId: number): readonly SessionEffect[] {
    const s = this.streams.get(streamId);
    if (s?.role !== 'playing' || s.name === undefined) return NONE;
    return [
      streamEvent(streamId, { type: 'STREAM.PUBLISHER_STOPPED' }),
      send(
        status(streamId, 'status', StatusCode.PlayUnpublishNotify, `${s.name} is now unpublished.`),
      ),
    ];
  }

  private pause(streamId: number, paused: boolean): readonly SessionEffect[] {
    if (this.streams.get(streamId)?.role !== 'playing') return NONE;
    return [
      { kind: 'pausePlayer', streamId, paused },
      send(
        status(
          streamId,
          'status',
          paused ? StatusCode.PauseNotify : StatusCode.UnpauseNotify,
          paused ? 'Paused.' : 'Unpaused.',
        ),
      ),
    ];
  }

  /**
   * A NetStream ends: deleteStream (`remove`), closeStream, a new play or publish on its id, or
   * the connection closing (`quiet`: its actors stop with the connection's, all at once).
   */
  private endStream(id: number, remove: boolean, quiet = false): readonly SessionEffect[] {
    const s = this.streams.get(id);
    if (!s) return NONE;
    const out: SessionEffect[] = [];
    if (s.role === 'publishing' && s.name !== undefined) {
      out.push({ kind: 'release', streamId: id, name: s.name });
      if (!quiet) {
        out.push(
          send(status(id, 'status', StatusCode.UnpublishSuccess, `${s.name} is now unpublished.`)),
        );
      }
      out.push({ kind: 'log', event: { type: 'unpublish', streamId: id, name: s.name } });
    } else if (s.role === 'playing' && s.name !== undefined) {
      out.push({ kind: 'removePlayer', streamId: id, name: s.name });
    }
    if (s.allowed) out.push({ kind: 'ended', request: s.allowed });
    // Closing: the connection's actor stops with all its NetStream actors at once (stopping them
    // one by one costs xstate a copy of the children per stop: quadratic in the streams).
    if (!quiet) out.push(streamEvent(id, { type: remove ? 'STREAM.DELETE' : 'STREAM.END' }));
    s.name = undefined;
    s.pending = undefined;
    s.allowed = undefined;
    if (s.role !== 'ended') s.role = 'created';
    if (remove) this.streams.delete(id);
    return out;
  }

  /** The connection closes: every NetStream ends (quietly); nothing more is decided. */
  close(): readonly SessionEffect[] {
    if (this.phaseValue === 'closed') return NONE;
    this.phaseValue = 'closed';
    this.pendingConnect = undefined;
    const out: SessionEffect[] = [];
    for (const id of [...this.streams.keys()]) out.push(...this.endStream(id, true, true));
    return out;
  }
}
