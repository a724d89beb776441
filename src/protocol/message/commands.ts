/**
 * Typed builders and readers for the NetConnection / NetStream commands and data messages
 * (RTMP spec 7.2, Enhanced RTMP v1/v2 connect extensions). Builders return RtmpMessage objects
 * ready for encodeMessage; readers return undefined when a message is not the one they read.
 */
import { ecmaArray } from '../amf/amf0';
import type { AmfObject, AmfValue } from '../amf/types';
import type { MessageOf, RtmpMessage, StatusInfo } from './types';

export type CommandMessage = MessageOf<'Command'>;
export type DataMessage = MessageOf<'Data'>;

/** Header fields of a built message; every one defaults to 0 (transactionId of connect: 1). */
export interface CommandOptions {
  transactionId?: number;
  streamId?: number;
  timestamp?: number;
  /** Chunk stream id; encodeMessage picks one when absent. */
  csid?: number;
  /** 0 (type 20, default) or 3 (type 17). */
  amf?: 0 | 3;
}

/** Header fields of a built data message. */
export type DataOptions = Omit<CommandOptions, 'transactionId'>;

/** Command names used by NetConnection and NetStream. */
export const CommandName = {
  Connect: 'connect',
  Result: '_result',
  Error: '_error',
  OnStatus: 'onStatus',
  CreateStream: 'createStream',
  DeleteStream: 'deleteStream',
  CloseStream: 'closeStream',
  Play: 'play',
  Play2: 'play2',
  Publish: 'publish',
  Pause: 'pause',
  Seek: 'seek',
  ReleaseStream: 'releaseStream',
  FCPublish: 'FCPublish',
  FCUnpublish: 'FCUnpublish',
  FCSubscribe: 'FCSubscribe',
  GetStreamLength: 'getStreamLength',
  OnBWDone: 'onBWDone',
} as const;

/** Data message names. */
export const DataName = {
  OnMetaData: 'onMetaData',
  SetDataFrame: '@setDataFrame',
  ClearDataFrame: '@clearDataFrame',
  RtmpSampleAccess: '|RtmpSampleAccess',
  OnPlayStatus: 'onPlayStatus',
} as const;

/** Status codes seen in onStatus / _result / _error information objects. */
export const StatusCode = {
  ConnectSuccess: 'NetConnection.Connect.Success',
  ConnectRejected: 'NetConnection.Connect.Rejected',
  ConnectFailed: 'NetConnection.Connect.Failed',
  ConnectClosed: 'NetConnection.Connect.Closed',
  ConnectReconnectRequest: 'NetConnection.Connect.ReconnectRequest',
  PlayReset: 'NetStream.Play.Reset',
  PlayStart: 'NetStream.Play.Start',
  PlayStop: 'NetStream.Play.Stop',
  PlayComplete: 'NetStream.Play.Complete',
  PlayFailed: 'NetStream.Play.Failed',
  PlayStreamNotFound: 'NetStream.Play.StreamNotFound',
  PlayPublishNotify: 'NetStream.Play.PublishNotify',
  PlayUnpublishNotify: 'NetStream.Play.UnpublishNotify',
  PlayInsufficientBW: 'NetStream.Play.InsufficientBW',
  PublishStart: 'NetStream.Publish.Start',
  PublishBadName: 'NetStream.Publish.BadName',
  PublishIdle: 'NetStream.Publish.Idle',
  UnpublishSuccess: 'NetStream.Unpublish.Success',
  PauseNotify: 'NetStream.Pause.Notify',
  UnpauseNotify: 'NetStream.Unpause.Notify',
  SeekNotify: 'NetStream.Seek.Notify',
  SeekFailed: 'NetStream.Seek.Failed',
  SeekInvalidTime: 'NetStream.Seek.InvalidTime',
  DataStart: 'NetStream.Data.Start',
} as const;

/** Enhanced RTMP v2 `capsEx` flags. */
export const CapsEx = { Reconnect: 0x01, Multitrack: 0x02, ModEx: 0x04, TimestampNanoOffset: 0x08 };

/** Enhanced RTMP v2 FourCC info-map flags. */
export const FourCcInfo = { CanDecode: 0x01, CanEncode: 0x02, CanForward: 0x04 };

/** The connect command object (RTMP spec 7.2.1.1, Enhanced RTMP v1/v2). */
export interface ConnectParams {
  app: string;
  flashVer?: string;
  swfUrl?: string;
  tcUrl?: string;
  fpad?: boolean;
  capabilities?: number;
  audioCodecs?: number;
  videoCodecs?: number;
  videoFunction?: number;
  pageUrl?: string;
  objectEncoding?: number;
  /** Enhanced RTMP v1: FourCCs the client supports ("*" for any). */
  fourCcList?: string[];
  /** Enhanced RTMP v2: FourCC -> FourCcInfo flags. */
  videoFourCcInfoMap?: Record<string, number>;
  /** Enhanced RTMP v2: FourCC -> FourCcInfo flags. */
  audioFourCcInfoMap?: Record<string, number>;
  /** Enhanced RTMP v2: CapsEx flags. */
  capsEx?: number;
  /** Further command-object properties (e.g. FFmpeg's `type: 'nonprivate'`), written last. */
  extra?: AmfObject;
  /** Optional user arguments, appended after the command object. */
  args?: AmfValue[];
}

/** What readConnect finds in a connect command. */
export interface ConnectRequest extends ConnectParams {
  transactionId: number;
  /** The command object as received. */
  commandObject: AmfObject;
  args: AmfValue[];
}

/** A `_result` / `_error` reply. */
export interface Reply {
  transactionId: number;
  /** True for `_result`, false for `_error`. */
  ok: boolean;
  /** The command object (server properties for connect; usually null). */
  properties: AmfValue;
  /** The first argument: the information object, or the stream id for createStream. */
  info: AmfValue;
  /** All arguments after the command object. */
  args: AmfValue[];
}

/** Play parameters (RTMP spec 7.2.2.1). */
export interface PlayParams {
  /** -2 live or recorded (default), -1 live only, >= 0 recorded from this many ms. */
  start?: number;
  /** -1 until the end (default when sent), 0 a single frame, > 0 this many ms. */
  duration?: number;
  /** Flush previous playlists (true when absent on the wire). */
  reset?: boolean;
}

export type PublishType = 'live' | 'record' | 'append';

function isObject(v: AmfValue): v is AmfObject {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Date) &&
    !(v instanceof Uint8Array) &&
    !('kind' in v && (v.kind === 'typedObject' || v.kind === 'xml' || v.kind === 'unsupported'))
  );
}

/** Any command: name, transaction id, command object (usually null) and arguments. */
export function buildCommand(
  name: string,
  commandObject: AmfValue,
  args: AmfValue[],
  opts: CommandOptions = {},
): CommandMessage {
  const msg: CommandMessage = {
    type: 'Command',
    amf: opts.amf ?? 0,
    name,
    transactionId: opts.transactionId ?? 0,
    commandObject,
    args,
    timestamp: opts.timestamp ?? 0,
    streamId: opts.streamId ?? 0,
  };
  if (opts.csid !== undefined) msg.csid = opts.csid;
  return msg;
}

/** Any data message; `values` gets the name first. */
export function buildData(name: string, values: AmfValue[], opts: DataOptions = {}): DataMessage {
  const msg: DataMessage = {
    type: 'Data',
    amf: opts.amf ?? 0,
    name,
    values: [name, ...values],
    timestamp: opts.timestamp ?? 0,
    streamId: opts.streamId ?? 0,
  };
  if (opts.csid !== undefined) msg.csid = opts.csid;
  return msg;
}

const CONNECT_KEYS = [
  'app',
  'flashVer',
  'swfUrl',
  'tcUrl',
  'fpad',
  'capabilities',
  'audioCodecs',
  'videoCodecs',
  'videoFunction',
  'pageUrl',
  'objectEncoding',
  'fourCcList',
  'videoFourCcInfoMap',
  'audioFourCcInfoMap',
  'capsEx',
] as const;

/** `connect` (transaction 1 unless given); absent properties are left out, in librtmp's order. */
export function buildConnect(params: ConnectParams, opts: CommandOptions = {}): CommandMessage {
  const cmd: AmfObject = {};
  for (const key of CONNECT_KEYS) {
    const v = params[key];
    if (v !== undefined) cmd[key] = Array.isArray(v) ? [...v] : v;
  }
  if (params.extra) Object.assign(cmd, params.extra);
  return buildCommand(CommandName.Connect, cmd, params.args ?? [], {
    ...opts,
    transactionId: opts.transactionId ?? 1,
  });
}

/** Reads a `connect` command (server side). */
export function readConnect(msg: RtmpMessage): ConnectRequest | undefined {
  if (msg.type !== 'Command' || msg.name !== CommandName.Connect) return undefined;
  const o = msg.commandObject;
  if (!isObject(o) || typeof o.app !== 'string') return undefined;
  const out: ConnectRequest = {
    app: o.app,
    transactionId: msg.transactionId,
    commandObject: o,
    args: msg.args,
  };
  const extra: AmfObject = {};
  for (const key of Object.keys(o)) {
    const v = o[key];
    switch (key) {
      case 'app':
        break;
      case 'flashVer':
      case 'swfUrl':
      case 'tcUrl':
      case 'pageUrl':
        if (typeof v === 'string') out[key] = v;
        break;
      case 'fpad':
        if (typeof v === 'boolean') out.fpad = v;
        break;
      case 'capabilities':
      case 'audioCodecs':
      case 'videoCodecs':
      case 'videoFunction':
      case 'objectEncoding':
      case 'capsEx':
        if (typeof v === 'number') out[key] = v;
        break;
      case 'fourCcList':
        if (Array.isArray(v)) out.fourCcList = v.filter((x): x is string => typeof x === 'string');
        break;
      case 'videoFourCcInfoMap':
      case 'audioFourCcInfoMap':
        if (isObject(v)) out[key] = numberMap(v);
        break;
      default:
        extra[key] = v;
    }
  }
  if (Object.keys(extra).length > 0) out.extra = extra;
  return out;
}

function numberMap(o: AmfObject): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[k] = v;
  return out;
}

/** `_result` for transaction `transactionId`: properties (command object) and info. */
export function buildResult(
  transactionId: number,
  properties: AmfValue,
  info: AmfValue,
  opts: Omit<CommandOptions, 'transactionId'> = {},
): CommandMessage {
  return buildCommand(CommandName.Result, properties, [info], { ...opts, transactionId });
}

/** `_error` for transaction `transactionId`: properties (command object) and info. */
export function buildError(
  transactionId: number,
  properties: AmfValue,
  info: AmfValue,
  opts: Omit<CommandOptions, 'transactionId'> = {},
): CommandMessage {
  return buildCommand(CommandName.Error, properties, [info], { ...opts, transactionId });
}

/** Reads a `_result` or `_error` reply. */
export function readReply(msg: RtmpMessage): Reply | undefined {
  if (msg.type !== 'Command') return undefined;
  if (msg.name !== CommandName.Result && msg.name !== CommandName.Error) return undefined;
  return {
    transactionId: msg.transactionId,
    ok: msg.name === CommandName.Result,
    properties: msg.commandObject,
    info: msg.args.length > 0 ? msg.args[0] : null,
    args: msg.args,
  };
}

/** The stream id of a createStream `_result`, if `msg` is one for `transactionId`. */
export function readCreateStreamResult(
  msg: RtmpMessage,
  transactionId: number,
): number | undefined {
  const reply = readReply(msg);
  if (!reply || !reply.ok || reply.transactionId !== transactionId) return undefined;
  return typeof reply.info === 'number' ? reply.info : undefined;
}

/** True when `v` is an information object: an object with string `level` and `code`. */
export function isStatusInfo(v: AmfValue): v is StatusInfo {
  return isObject(v) && typeof v.level === 'string' && typeof v.code === 'string';
}

/** `onStatus` (transaction 0, null command object) carrying `info` on a stream. */
export function buildOnStatus(info: StatusInfo, opts: DataOptions = {}): CommandMessage {
  return buildCommand(CommandName.OnStatus, null, [info], { ...opts, transactionId: 0 });
}

/** `onPlayStatus` data message (e.g. NetStream.Play.Complete). */
export function buildOnPlayStatus(info: StatusInfo, opts: DataOptions = {}): DataMessage {
  return buildData(DataName.OnPlayStatus, [info], opts);
}

/**
 * The information object of an `onStatus` command, or of an `onPlayStatus` / `onStatus` data
 * message; undefined for anything else.
 */
export function readStatus(msg: RtmpMessage): StatusInfo | undefined {
  let candidate: AmfValue;
  if (msg.type === 'Command' && msg.name === CommandName.OnStatus) {
    candidate = msg.args.length > 0 ? msg.args[0] : msg.commandObject;
  } else if (
    msg.type === 'Data' &&
    (msg.name === DataName.OnPlayStatus || msg.name === CommandName.OnStatus)
  ) {
    candidate = msg.values[1];
  } else {
    return undefined;
  }
  return isStatusInfo(candidate) ? candidate : undefined;
}

/** `createStream`: give it a transaction id to match the `_result` that carries the stream id. */
export function buildCreateStream(
  opts: CommandOptions & { transactionId: number },
): CommandMessage {
  return buildCommand(CommandName.CreateStream, null, [], opts);
}

/**
 * `play(name, start, [duration, [reset]])` on the NetStream (opts.streamId). Start defaults to
 * -2; duration and reset are sent only when given (duration -1 if only reset is).
 */
export function buildPlay(
  name: string,
  params: PlayParams = {},
  opts: CommandOptions = {},
): CommandMessage {
  const args: AmfValue[] = [name, params.start ?? -2];
  if (params.duration !== undefined || params.reset !== undefined) {
    args.push(params.duration ?? -1);
  }
  if (params.reset !== undefined) args.push(params.reset);
  return buildCommand(CommandName.Play, null, args, opts);
}

/** Reads a `play` command (server side), filling the defaults. */
export function readPlay(
  msg: RtmpMessage,
): { name: string; start: number; duration: number; reset: boolean } | undefined {
  if (msg.type !== 'Command' || msg.name !== CommandName.Play) return undefined;
  const [name, start, duration, reset] = msg.args;
  if (typeof name !== 'string') return undefined;
  return {
    name,
    start: typeof start === 'number' ? start : -2,
    duration: typeof duration === 'number' ? duration : -1,
    reset: typeof reset === 'boolean' ? reset : true,
  };
}

/** `play2` with its parameters object (streamName, oldStreamName, start, len, transition, ...). */
export function buildPlay2(params: AmfObject, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.Play2, null, [params], opts);
}

/** `publish(name, type)` on the NetStream (opts.streamId). */
export function buildPublish(
  name: string,
  type: PublishType = 'live',
  opts: CommandOptions = {},
): CommandMessage {
  return buildCommand(CommandName.Publish, null, [name, type], opts);
}

/** Reads a `publish` command (server side); the type defaults to 'live'. */
export function readPublish(msg: RtmpMessage): { name: string; type: PublishType } | undefined {
  if (msg.type !== 'Command' || msg.name !== CommandName.Publish) return undefined;
  const [name, type] = msg.args;
  if (typeof name !== 'string') return undefined;
  return { name, type: type === 'record' || type === 'append' ? type : 'live' };
}

/**
 * `pause(flag, ms)` on the NetStream (opts.streamId), transaction 0, null command object: true
 * pauses, false resumes; ms is the stream time of the pause/resume.
 */
export function buildPause(pause: boolean, ms: number, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.Pause, null, [pause, ms], opts);
}

/** `seek(ms)` on the NetStream (opts.streamId), transaction 0, null command object. */
export function buildSeek(ms: number, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.Seek, null, [ms], opts);
}

/** `deleteStream(id)`, sent on stream 0 unless opts.streamId says otherwise. */
export function buildDeleteStream(streamId: number, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.DeleteStream, null, [streamId], opts);
}

/** `closeStream` on the NetStream (opts.streamId). */
export function buildCloseStream(opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.CloseStream, null, [], opts);
}

/** `releaseStream(name)` (FMLE-style publishers send it before createStream). */
export function buildReleaseStream(name: string, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.ReleaseStream, null, [name], opts);
}

/** `FCPublish(name)`. */
export function buildFcPublish(name: string, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.FCPublish, null, [name], opts);
}

/** `FCUnpublish(name)`. */
export function buildFcUnpublish(name: string, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.FCUnpublish, null, [name], opts);
}

/** `FCSubscribe(name)` (CDNs such as Akamai want it before play). */
export function buildFcSubscribe(name: string, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.FCSubscribe, null, [name], opts);
}

/** `getStreamLength(name)`. */
export function buildGetStreamLength(name: string, opts: CommandOptions = {}): CommandMessage {
  return buildCommand(CommandName.GetStreamLength, null, [name], opts);
}

/** `onBWDone` (transaction 0, null), which FMS-style servers send after connect. */
export function buildOnBwDone(opts: DataOptions = {}): CommandMessage {
  return buildCommand(CommandName.OnBWDone, null, [], { ...opts, transactionId: 0 });
}

/** `onMetaData(data)`; the data travels as an ECMA array (a tagged copy of `data`). */
export function buildOnMetaData(data: AmfObject, opts: DataOptions = {}): DataMessage {
  return buildData(DataName.OnMetaData, [ecmaArray({ ...data })], opts);
}

/** `@setDataFrame('onMetaData', data)`, as publishers send metadata. */
export function buildSetDataFrame(data: AmfObject, opts: DataOptions = {}): DataMessage {
  return buildData(DataName.SetDataFrame, [DataName.OnMetaData, ecmaArray({ ...data })], opts);
}

/** `|RtmpSampleAccess(audio, video)`: whether the player may read raw audio / video samples. */
export function buildRtmpSampleAccess(
  audio = true,
  video = true,
  opts: DataOptions = {},
): DataMessage {
  return buildData(DataName.RtmpSampleAccess, [audio, video], opts);
}

/**
 * The metadata object of `onMetaData(data)` or `@setDataFrame('onMetaData', data)`;
 * undefined for other messages or when the value is not an object.
 */
export function readMetaData(msg: RtmpMessage): AmfObject | undefined {
  if (msg.type !== 'Data') return undefined;
  let v: AmfValue;
  if (msg.name === DataName.OnMetaData) v = msg.values[1];
  else if (msg.name === DataName.SetDataFrame && msg.values[1] === DataName.OnMetaData) {
    v = msg.values[2];
  } else return undefined;
  return isObject(v) ? v : undefined;
}
