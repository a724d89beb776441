/** The embedded RTMP server (`rtmp-actors serve`). */
export { RtmpServer } from './server';
export type {
  RtmpServerOptions,
  ServerConnectionStats,
  ServerEvent,
  ServerStats,
  ServerStreamStats,
} from './server';
export { formatServerEvent, serverEventJson } from './log';
export type { ConnectionMachines, ConnectionPhase, NetStreamRole } from './connection';
