/**
 * The environment ours runs with in every section of `npm run bench`: NODE_EXTRA_CA_CERTS set to
 * '' (unless BENCH_KEEP_NODE_EXTRA_CA_CERTS=1). When that variable names a CA bundle, node parses
 * the whole bundle at every start, before any of our code runs: on this machine's sandbox, whose
 * environment sets it to the system bundle, ~0.08 CPU s and 30 ms or more of wall per start
 * (more than rtmpdump's whole CPU for a VOD download) and about 2 MB of RSS for as long as the
 * process lives. A user's shell does not normally set it, and an rtmp:// stream never uses it.
 * rtmpdump and ffmpeg never read it. `note` says when it was cleared, for the bench to print.
 */
export function oursEnv(): { env?: Record<string, string>; note?: string } {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca || process.env.BENCH_KEEP_NODE_EXTRA_CA_CERTS === '1') return {};
  return {
    env: { NODE_EXTRA_CA_CERTS: '' },
    note:
      `ours ran with NODE_EXTRA_CA_CERTS cleared (it was ${ca}: node parses that bundle at every start, ` +
      'before our code; BENCH_KEEP_NODE_EXTRA_CA_CERTS=1 keeps it)',
  };
}
