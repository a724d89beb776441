/** Exit codes shared by every command, so scripts and monitoring systems can tell failures apart. */
export const ExitCode = {
  Ok: 0,
  /** Something failed that has no more specific code. */
  Failure: 1,
  /** Bad command line. */
  Usage: 2,
  /** Could not connect (refused, timed out, DNS, TLS) after every retry. */
  ConnectionFailed: 3,
  /** The server refused the connection (NetConnection.Connect.Rejected, bad app, auth). */
  Rejected: 4,
  /** The server has no such stream (NetStream.Play.StreamNotFound). */
  StreamNotFound: 5,
  /** The peer sent bytes that are not valid RTMP, or a limit was exceeded; or a file is broken. */
  ProtocolError: 6,
  /** monitor: some streams unhealthy. */
  SomeUnhealthy: 7,
  /** Interrupted by SIGINT/SIGTERM after a clean shutdown. */
  Interrupted: 130,
  /** Our own bug. */
  Internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
