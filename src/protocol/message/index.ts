/** RTMP messages: the RtmpMessage model, decodeMessage / encodeMessage, command builders and readers. */
export * from './types';
export { decodeMessage, UserControlEventType } from './decode';
export { defaultCsid, encodeMessage } from './encode';
export * from './commands';
export * from './capabilities';
