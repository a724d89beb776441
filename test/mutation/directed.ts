/**
 * Directed model paths for the mutation suites: what the generated walk never does (an event a
 * state ignores, duties while connected), written as a list of the model's own events.
 */
import type { AnyEventObject, AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import {
  pathFromEvents,
  probeInitial,
  probeTransition,
  type ModelPath,
} from '../../src/testing/paths';

/**
 * An event of the model's `events` in the state reached, by type, optionally `TYPE:detail`
 * where detail is the message's type, command name, User Control event or status code; or an
 * event given whole.
 */
export type Pick = string | AnyEventObject;

function detailOf(event: AnyEventObject): string[] {
  const m = event.message as
    { type?: string; name?: string; event?: string; args?: unknown[] } | undefined;
  if (!m) return [];
  const info = m.args?.[0] as { code?: string } | undefined;
  return [m.type, m.name, m.event, info?.code].filter((x): x is string => typeof x === 'string');
}

export function directedPath(
  model: {
    machine: AnyStateMachine;
    input: unknown;
    events: (snapshot: AnyMachineSnapshot) => AnyEventObject[];
  },
  id: string,
  picks: Pick[],
): ModelPath {
  let snapshot = probeInitial(model.machine, model.input).next;
  const events: AnyEventObject[] = [];
  for (const pick of picks) {
    let event: AnyEventObject | undefined;
    if (typeof pick === 'string') {
      const at = pick.indexOf(':');
      const type = at < 0 ? pick : pick.slice(0, at);
      const detail = at < 0 ? undefined : pick.slice(at + 1);
      event = model
        .events(snapshot)
        .find((e) => e.type === type && (detail === undefined || detailOf(e).includes(detail)));
      if (!event) {
        throw new Error(`${id}: the model offers no ${pick} in ${JSON.stringify(snapshot.value)}`);
      }
    } else event = pick;
    events.push(event);
    snapshot = probeTransition(model.machine, snapshot, event).next;
  }
  return pathFromEvents(model.machine, events, { input: model.input as never, id });
}
