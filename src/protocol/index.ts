/** The sans-IO protocol core: bytes in, results out; no sockets, rxjs or xstate. */
export * as handshake from './handshake';
export * as chunk from './chunk';
export * as message from './message';
export * as amf from './amf';
export * as flv from './flv';
export * from './types';
export * from './errors';
export * from './limits';
