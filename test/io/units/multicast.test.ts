/**
 * Multicast is the transport's stand-in for an RxJS Subject on the lent-media path: each
 * scenario runs against both and must log the same deliveries.
 */
import { Subject, type Observable } from 'rxjs';
import { Multicast } from '../../../src/io/multicast';

interface Source {
  next(v: number): void;
  complete(): void;
  readonly observed: boolean;
  subscribe(name: string, log: string[], onValue?: (v: number) => void): { unsubscribe(): void };
}

/** A Source over a Subject or a Multicast: `hot` delivers, `observable` is what subscribers get. */
function sourceOf(
  hot: { next(v: number): void; complete(): void; readonly observed: boolean },
  observable: Observable<number>,
): Source {
  return {
    next: (v) => hot.next(v),
    complete: () => hot.complete(),
    get observed() {
      return hot.observed;
    },
    subscribe: (name, log, onValue) =>
      observable.subscribe({
        next: (v) => {
          log.push(`${name}:${v}`);
          onValue?.(v);
        },
        complete: () => log.push(`${name}:done`),
      }),
  };
}

function fromSubject(): Source {
  const s = new Subject<number>();
  return sourceOf(s, s.asObservable());
}

function fromMulticast(): Source {
  const m = new Multicast<number>();
  return sourceOf(m, m.observable);
}

/** Runs `scenario` on a Subject and on a Multicast; returns both logs. */
function both(scenario: (source: Source, log: string[]) => void): [string[], string[]] {
  const a: string[] = [];
  const b: string[] = [];
  scenario(fromSubject(), a);
  scenario(fromMulticast(), b);
  return [a, b];
}

describe('Multicast', () => {
  it('delivers each value to every subscriber in the order they subscribed, as a Subject does', () => {
    const [subject, multicast] = both((source, log) => {
      source.next(0);
      source.subscribe('a', log);
      source.subscribe('b', log);
      source.next(1);
      source.next(2);
    });
    expect(multicast).toEqual(['a:1', 'b:1', 'a:2', 'b:2']);
    expect(multicast).toEqual(subject);
  });

  it('gives a subscriber that comes during a delivery the values after it, as a Subject does', () => {
    const [subject, multicast] = both((source, log) => {
      let added = false;
      source.subscribe('a', log, () => {
        if (added) return;
        added = true;
        source.subscribe('late', log);
      });
      source.next(1);
      source.next(2);
    });
    expect(multicast).toEqual(['a:1', 'a:2', 'late:2']);
    expect(multicast).toEqual(subject);
  });

  it('gives a subscriber removed during a delivery nothing more, that value included, as a Subject does', () => {
    const [subject, multicast] = both((source, log) => {
      const later: { b?: { unsubscribe(): void } } = {};
      source.subscribe('a', log, (v) => {
        if (v === 2) later.b?.unsubscribe();
      });
      later.b = source.subscribe('b', log);
      source.next(1);
      source.next(2);
      source.next(3);
    });
    expect(multicast).toEqual(['a:1', 'b:1', 'a:2', 'a:3']);
    expect(multicast).toEqual(subject);
  });

  it('says whether anyone subscribes, as Subject.observed does', () => {
    for (const source of [fromSubject(), fromMulticast()]) {
      expect(source.observed).toBe(false);
      const sub = source.subscribe('a', []);
      expect(source.observed).toBe(true);
      sub.unsubscribe();
      expect(source.observed).toBe(false);
    }
  });

  it('completes its subscribers and each later one, and delivers nothing after, as a Subject does', () => {
    const [subject, multicast] = both((source, log) => {
      source.subscribe('a', log);
      source.next(1);
      source.complete();
      source.next(2);
      source.subscribe('after', log);
      source.complete();
    });
    expect(multicast).toEqual(['a:1', 'a:done', 'after:done']);
    expect(multicast).toEqual(subject);
  });
});
