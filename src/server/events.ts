/**
 * What a connection and the server report: types only, in a module of their own so that
 * log.ts can format them without importing server.ts (server.ts -> connection.ts -> log.ts
 * would otherwise come back to server.ts).
 */

/** What a connection reports (the server adds the connection id and forwards it). */
export type ConnectionEvent =
  | { type: 'connect'; app: string; tcUrl: string; flashVer: string }
  | { type: 'publish'; streamId: number; name: string }
  | { type: 'badName'; streamId: number; name: string }
  | { type: 'unpublish'; streamId: number; name: string }
  | { type: 'play'; streamId: number; name: string; waiting: boolean }
  | { type: 'notFound'; streamId: number; name: string }
  | { type: 'stop'; streamId: number; name: string; dropped: number }
  | { type: 'error'; message: string }
  | { type: 'close'; reason: string };

/**
 * What the server does, one event per step. Stream names are the names clients sent, stream keys
 * included: pass events through `formatServerEvent` (which redacts) before logging them.
 */
export type ServerEvent =
  | { type: 'listening'; host: string; port: number }
  | ({ connection: number; remote: string; app: string } & (
      { type: 'connection' } | { type: 'refused'; reason: string } | ConnectionEvent
    ))
  | { type: 'shutdown' };
