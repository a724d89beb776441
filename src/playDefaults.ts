/**
 * SetBufferLength of a recorded (or unknown: start -2) play when `bufferMs` is not given: ten
 * hours, so servers that pace a recorded stream by the client's buffer (nginx-rtmp) send it at
 * full speed, as the command line does.
 */
export const DEFAULT_VOD_BUFFER_MS = 36_000_000;
/** SetBufferLength of a live play (start -1) when `bufferMs` is not given (FFmpeg's). */
export const DEFAULT_LIVE_BUFFER_MS = 3000;
/** How long a recorded play may go without media before it ends (the stream machine's default). */
export { DEFAULT_VOD_IDLE_MS } from '../machines/contract';
