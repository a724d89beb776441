/**
 * rtmp-actors: an RTMP client and server whose every protocol phase is an XState v5 statechart.
 *
 * - `createSession` — the public client API (supervisor actor, play, publish, saveFlv, close).
 * - `createMonitor` — the monitor as a library (targets, statistics, Prometheus registry).
 * - `RtmpServer` — the embedded server (many streams per connection, GOP cache).
 * - The statecharts themselves (`machines`), for the inspector and for model-based tests.
 * - The sans-IO protocol core (handshake, chunk, message, AMF, FLV) and its typed errors.
 */
export {
  createSession,
  Session,
  StreamHandle,
  PublishHandle,
  DEFAULT_LIVE_BUFFER_MS,
  DEFAULT_VOD_BUFFER_MS,
  DEFAULT_VOD_IDLE_MS,
  type ClientPlayOptions,
  type SaveFlvOptions,
  type SessionOptions,
  type SessionEvent,
  type StreamEvent,
  type StreamKeyOptions,
  StreamControlError,
  type StreamControlErrorCode,
} from './client';
export {
  classifyFailure,
  SessionError,
  type FailedAttempt,
  type FailureClassification,
  type FailureKind,
  type StreamEndReason,
  type StreamFailureCause,
  type StreamOutcome,
  type StreamOutcomeReason,
} from './outcome';
export type {
  ConnectionFailureReason,
  StatusReply,
  StreamFailureReason,
  TransportErrorCode,
} from '../machines/contract';
export type { PlayOptions, PublishOptions } from '../machines/netStreamMachine';
export type { SessionRefusal } from '../machines/sessionSupervisorMachine';
export {
  RtmpServer,
  formatServerEvent,
  serverEventJson,
  type RtmpServerOptions,
  type ServerEvent,
  type ServerStats,
  type ServerConnectionStats,
  type ServerStreamStats,
  httpHooks,
  RefusalStatus,
  ServerLimitError,
  type Authorize,
  type AuthorizeAction,
  type AuthorizeDecision,
  type AuthorizeRequest,
  type HttpHooks,
  type HttpHooksOptions,
  type ServerLimitCode,
} from './server';
export { sampleFlvPath } from './sample';
export {
  MediaRouter,
  withTracks,
  type MediaMessage,
  type MediaMessageTrack,
  type MediaTrackFields,
} from './io/media';
export {
  clientCapabilityProperties,
  readCapabilities,
  serverCapabilityProperties,
  SUPPORTED_CAPS_EX,
  type ErtmpCapabilities,
} from './protocol/message/capabilities';
export {
  DEFAULT_ALIGN_WINDOW_MS,
  DEFAULT_SWITCH_BUFFER_BYTES,
  Switchover,
  type SwitchPhase,
  type SwitchResult,
} from './switchover';
export type { ReconnectRequestOutcome } from '../machines/serverConnectionMachine';
export { FlvFileSink, type FlvFileSinkOptions, type FlvSaveResult } from './io/flvFile';
export { flvFileSource, type FlvSourceOptions } from './publish/flvSource';
export { parseRtmpUrl, UrlError, type RtmpUrl } from './url';
export { redactUrl, redactText, secretsOf } from './redact';
export { OutputError, TransportError } from './io/errors';
export { decodeRtmp, type InboundItem } from './pipeline/decode';
export { encodeRtmp, type OutboundItem } from './pipeline/encode';
export * as machines from '../machines';
export {
  NET_STREAM_LIFECYCLE_OF,
  netStreamStatesTagged,
  type NetStreamLifecycle,
  type NetStreamStateName,
  type NetStreamStateValue,
  type NetStreamTag,
  type SeekOutcome,
  type SeekResult,
  type StreamRetry,
  type StreamRetryPolicy,
} from '../machines/netStreamMachine';
export type { StreamLimit, StreamRetryReason } from '../machines/contract';
export * as protocol from './protocol';
export * from './protocol/errors';
export { DEFAULT_LIMITS, resolveLimits, type RtmpLimits } from './protocol/limits';
export {
  createMonitor,
  StreamStats,
  TargetsError,
  ShardError,
  targetsFromUrls,
  parseTargets,
  shardOf,
  inShard,
  startHttpServer,
  type Monitor,
  type MonitorOptions,
  type MonitorEvent,
  type MonitorTarget,
  type ShardSpec,
  type StreamSnapshot,
  type StreamEvent as MonitorStreamEvent,
  type TargetsEvent,
} from './monitor';
