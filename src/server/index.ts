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
export {
  httpHooks,
  RefusalStatus,
  type Authorize,
  type AuthorizeAction,
  type AuthorizeDecision,
  type AuthorizeRequest,
  type HttpHooks,
  type HttpHooksOptions,
} from './authorize';
export { ServerLimitError, type ServerLimitCode } from './limits';
