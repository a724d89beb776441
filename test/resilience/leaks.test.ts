/**
 * 1,000 connect -> play -> close cycles against nginx-rtmp (a live stream with an ffmpeg
 * publisher), 10 sessions at a time, in one process. Afterwards the heap, the process's active
 * handles and the number of live actors must be back at their baseline: a session that closed
 * leaves nothing behind.
 *
 * The heap is compared after real collections (V8's gc, reached without a command-line flag);
 * where gc cannot be reached, by the medians of heapUsed over the first and the last 100 cycles
 * (reported either way; without gc they mostly measure garbage not yet collected).
 */
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { createSession } from '../../src/client';
import {
  sleep,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
} from '../helpers';

jest.setTimeout(120_000);

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
const CYCLES = 1000;
const PARALLEL = 10;
const MiB = 1024 * 1024;

const gc: (() => void) | undefined = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const f = runInNewContext('gc') as unknown;
    return typeof f === 'function' ? (f as () => void) : undefined;
  } catch {
    return undefined;
  }
})();

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await sleep(25);
  }
  return process.memoryUsage().heapUsed;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Every actor any session created, held weakly: how many are still running, how many were collected. */
function actorCensus(): {
  inspect: (e: InspectionEvent) => void;
  created: () => number;
  running: () => string[];
  collected: () => number;
} {
  const refs: Array<WeakRef<AnyActorRef>> = [];
  let collected = 0;
  const registry = new FinalizationRegistry<void>(() => {
    collected++;
  });
  return {
    inspect: (e) => {
      if (e.type !== '@xstate.actor') return;
      const actor = e.actorRef as unknown as AnyActorRef;
      refs.push(new WeakRef(actor));
      registry.register(actor, undefined);
    },
    created: () => refs.length,
    running: () =>
      refs
        .map((r) => r.deref())
        .filter((a): a is AnyActorRef => a !== undefined && a.getSnapshot()?.status === 'active')
        .map((a) => a.id),
    collected: () => collected,
  };
}

describe('1,000 connect -> play -> close cycles', () => {
  let nginx: NginxRtmp;
  let publisher: PublisherHandle;

  beforeAll(async () => {
    nginx = await startNginxRtmp();
    const url = `rtmp://127.0.0.1:${nginx.port}/live/leak`;
    publisher = startFfmpegPublisher(url, { file: SMALL_FLV });
    // Wait until nginx relays the publish (a probe session sees media).
    const probe = createSession({ url });
    let media = 0;
    probe.play('leak', { start: -1 }).media$.subscribe(() => media++);
    const ok = await waitFor(() => media > 10, 20_000);
    await probe.close();
    if (!ok) throw new Error('nginx-rtmp never relayed the publisher');
  });
  afterAll(async () => {
    await publisher?.stop();
    await stopAll();
  });

  it('returns heap, active handles and live actors to their baseline after 1,000 cycles', async () => {
    const url = `rtmp://127.0.0.1:${nginx.port}/live/leak`;
    const census = actorCensus();
    await sleep(2500); // the probe's socket timers
    const baselineResources = resourceCounts();
    const baselineHeap = await settledHeap();
    const heapAfterCycle: number[] = [];
    let gotMedia = 0;
    let failed = 0;
    const failures = new Map<string, number>();
    let heapAfterFirst100 = 0;

    const cycle = async (): Promise<void> => {
      const session = createSession({
        url,
        retry: { maxAttempts: 3, baseMs: 50, maxMs: 200 },
        timeouts: { transport: 5000, handshake: 5000, connect: 5000 },
        inspect: census.inspect,
      });
      const stream = session.play('leak', { start: -1 });
      let first = false;
      const sub = stream.media$.subscribe(() => (first = true));
      let outcome: string | undefined;
      void stream.done.then((o) => (outcome = `${o.outcome} ${o.reason ?? ''}`));
      await waitFor(() => first || outcome !== undefined, 10_000, 5);
      sub.unsubscribe();
      if (first) gotMedia++;
      else {
        failed++;
        const why = outcome ?? 'no media within 10 s';
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
      await session.close();
    };

    const started = Date.now();
    for (let done = 0; done < CYCLES; done += PARALLEL) {
      await Promise.all(Array.from({ length: PARALLEL }, () => cycle()));
      for (let i = 0; i < PARALLEL; i++) heapAfterCycle.push(process.memoryUsage().heapUsed);
      if (done + PARALLEL === 100) heapAfterFirst100 = await settledHeap();
    }
    const elapsed = Date.now() - started;
    // Let the transports' 2 s destroy-after-close timers run out.
    await sleep(2500);
    const endHeap = await settledHeap();
    const endResources = resourceCounts();
    const running = census.running();
    await sleep(100);
    await settledHeap();
    const figures = {
      cycles: CYCLES,
      parallel: PARALLEL,
      elapsedMs: elapsed,
      gotMedia,
      failed,
      failures: Object.fromEntries(failures),
      gcAvailable: gc !== undefined,
      heapBaselineMiB: +(baselineHeap / MiB).toFixed(1),
      heapAfter100MiB: +(heapAfterFirst100 / MiB).toFixed(1),
      heapEndMiB: +(endHeap / MiB).toFixed(1),
      heapMedianFirst100MiB: +(median(heapAfterCycle.slice(0, 100)) / MiB).toFixed(1),
      heapMedianLast100MiB: +(median(heapAfterCycle.slice(-100)) / MiB).toFixed(1),
      resourcesBaseline: baselineResources,
      resourcesEnd: endResources,
      actorsCreated: census.created(),
      actorsRunning: running.length,
      actorsCollected: census.collected(),
    };
    console.log(`leak figures: ${JSON.stringify(figures, null, 1)}`);

    expect(failed).toBe(0);
    expect(gotMedia).toBe(CYCLES);
    // Live actors: none left running (each cycle makes a supervisor, a connection, a transport,
    // a handshake and a stream actor).
    expect(census.created()).toBeGreaterThanOrEqual(CYCLES * 4);
    expect(running).toEqual([]);
    // Active handles: no socket, timer or other handle more than at the baseline.
    for (const [kind, n] of Object.entries(endResources)) {
      expect({ kind, n: n <= (baselineResources[kind] ?? 0) }).toEqual({ kind, n: true });
    }
    // Heap: back to where it was after the first 100 cycles (warm caches), with a margin.
    if (gc) {
      expect(endHeap - heapAfterFirst100).toBeLessThan(4 * MiB);
      // Most actors were collected (the last few may still wait for the finalizers).
      expect(census.collected()).toBeGreaterThan(census.created() * 0.9);
    } else {
      // Without gc, uncollected garbage dominates heapUsed: only a gross leak shows here.
      const growth = median(heapAfterCycle.slice(-100)) - median(heapAfterCycle.slice(0, 100));
      expect(growth).toBeLessThan(64 * MiB);
    }
  });
});
