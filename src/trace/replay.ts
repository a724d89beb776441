/**
 * `trace replay`: the recorded events again, in recorded timing (scaled by `speed`), to an
 * inspector or, without one, as text lines.
 */
import type { TraceRecord } from './record';
import { stateName } from './summary';

/** One record as a line of text: time, kind, actor, and what happened. */
export function formatRecord(r: TraceRecord): string {
  const time = `${(r.t / 1000).toFixed(3)}s`.padStart(9);
  const kind = r.type.replace('@xstate.', '').padEnd(9);
  let detail = '';
  switch (r.type) {
    case '@xstate.actor':
      detail = `created${r.name ? ` (${r.name})` : ''}${r.value !== undefined ? ` in ${stateName(r.value)}` : ''}`;
      break;
    case '@xstate.event': {
      const type = (r.event as { type?: string } | undefined)?.type ?? '?';
      detail = `${type}${r.sourceId ? ` from ${r.sourceId}` : ''}`;
      break;
    }
    case '@xstate.snapshot':
    case '@xstate.microstep':
      detail = `${r.value !== undefined ? stateName(r.value) : ''}${r.status && r.status !== 'active' ? ` [${r.status}]` : ''}`;
      break;
  }
  return `${time} ${kind} ${r.actorId} ${detail}`.trimEnd();
}

/**
 * Calls `emit` for each record at its recorded time divided by `speed` (speed <= 0 or Infinity:
 * all at once). Stops early when `cancelled` resolves.
 */
export async function replay(
  records: readonly TraceRecord[],
  emit: (r: TraceRecord) => void,
  options: { speed?: number; cancelled?: Promise<void> } = {},
): Promise<{ sent: number; cancelled: boolean }> {
  const speed = options.speed ?? 1;
  const immediate = !(speed > 0) || !Number.isFinite(speed);
  const start = Date.now();
  const t0 = records[0]?.t ?? 0;
  let cancelled = false;
  void options.cancelled?.then(() => (cancelled = true));
  let sent = 0;
  for (const r of records) {
    if (cancelled) break;
    if (!immediate) {
      const due = start + (r.t - t0) / speed;
      const wait = due - Date.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          void options.cancelled?.then(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        if (cancelled) break;
      }
    }
    emit(r);
    sent++;
  }
  return { sent, cancelled };
}
