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
  type SessionOptions,
  type SessionEvent,
  type StreamEvent,
  type StreamOutcome,
} from './client';
export { RtmpServer, type RtmpServerOptions } from './server';
export { MediaRouter, type MediaMessage } from './io/media';
export { FlvFileSink, type FlvSaveResult } from './io/flvFile';
export { flvFileSource, type FlvSourceOptions } from './publish/flvSource';
export { parseRtmpUrl, UrlError, type RtmpUrl } from './url';
export { redactUrl, redactText, secretsOf } from './redact';
export { TransportError } from './io/errors';
export { decodeRtmp, type InboundItem } from './pipeline/decode';
export { encodeRtmp, type OutboundItem } from './pipeline/encode';
export * as machines from '../machines';
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
