/**
 * How the monitor classifies a stream's state. The stream machine's states are classified by the
 * machine itself (its `down` state tag, read from its definition); the monitor adds only its own
 * words for streams it does not play now.
 */
import {
  NET_STREAM_LIFECYCLE_OF,
  netStreamStatesTagged,
  type NetStreamStateName,
} from '../../machines/netStreamMachine';

/**
 * The monitor's own states for a stream that is not connected (none is a stream machine state):
 * `disconnected` (its connection went down), `ended` (its play ended, a replay may follow), and
 * `down`, `reconnecting`, `closed` for StreamStats users that report their own states.
 */
export const MONITOR_OWN_DOWN_STATES = [
  'down',
  'reconnecting',
  'disconnected',
  'closed',
  'ended',
] as const;

/**
 * States that mean "not connected now" (health `down`): the stream machine's states tagged
 * `down`, and the monitor's own. The RtmpStreamStalled alert leaves them out (with `failed`).
 */
export const MONITOR_DOWN_STATES: readonly string[] = Object.freeze(
  [...new Set<string>([...netStreamStatesTagged('down'), ...MONITOR_OWN_DOWN_STATES])].sort(),
);

/**
 * A stream that announced `state` is no longer being set up (it frees its maxStarting slot): the
 * server answered (it is `up`), or it is `down` (interrupted, retrying, stopping...).
 */
export function isSettledState(state: NetStreamStateName): boolean {
  const lifecycle = NET_STREAM_LIFECYCLE_OF[state];
  return lifecycle === 'up' || lifecycle === 'down';
}
