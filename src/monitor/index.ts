/** `rtmp-actors monitor` as a library: targets, statistics, Prometheus metrics, HTTP, rendering. */
export * from './stats';
export * from './metrics';
export * from './render';
export * from './targets';
export * from './shard';
export * from './http';
export * from './fdLimit';
export {
  createMonitor,
  type Monitor,
  type MonitorOptions,
  type MonitorEvent,
  type TargetsEvent,
} from './monitor';
export { StreamMonitor, type StreamMonitorOptions, type WatchOptions } from './session';
