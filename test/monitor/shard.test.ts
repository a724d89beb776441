import {
  ShardError,
  describeShard,
  fnv1a32,
  inShard,
  parseShard,
  shardFromHostname,
  shardOf,
} from '../../src/monitor/shard';

const IDS = Array.from({ length: 1000 }, (_, i) => `cam-${String(i).padStart(4, '0')}`);

describe('shards', () => {
  it('hashes ids with 32-bit FNV-1a (the published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('puts every id in exactly one shard with one replica', () => {
    for (const count of [1, 2, 3, 7]) {
      const specs = Array.from({ length: count }, (_, i) => parseShard(`${i}/${count}`));
      for (const id of IDS) {
        expect(specs.filter((s) => inShard(id, s))).toHaveLength(1);
      }
    }
  });

  it('puts every id in exactly R shards with R replicas, the shard of the id first', () => {
    for (const [count, replicas] of [
      [3, 2],
      [5, 3],
      [4, 4],
    ]) {
      const specs = Array.from({ length: count }, (_, i) => parseShard(`${i}/${count}`, replicas));
      for (const id of IDS) {
        const holders = specs.filter((s) => inShard(id, s)).map((s) => s.index);
        expect(holders).toHaveLength(replicas);
        expect(holders).toContain(shardOf(id, count));
      }
    }
  });

  it('is stable: the same id lands in the same shard on every run', () => {
    // Pinned values: a change of the hash would move targets between running shards.
    expect(IDS.slice(0, 6).map((id) => shardOf(id, 3))).toEqual(
      IDS.slice(0, 6).map((id) => fnv1a32(id) % 3),
    );
    expect(shardOf('cam-001', 3)).toBe(fnv1a32('cam-001') % 3);
    expect(fnv1a32('cam-001')).toBe(0x316260ce);
    expect(shardOf('cam-001', 3)).toBe(0x316260ce % 3);
  });

  it('spreads ids over the shards roughly evenly', () => {
    const counts = [0, 0, 0];
    for (const id of IDS) counts[shardOf(id, 3)]++;
    for (const c of counts) expect(c).toBeGreaterThan(250);
  });

  it('takes the shard index from the trailing ordinal of a StatefulSet pod name', () => {
    expect(shardFromHostname('monitor-2', 3)).toEqual({ index: 2, count: 3, replicas: 1 });
    expect(shardFromHostname('rtmp-monitor-0.rtmp-monitor.ns.svc', 3, 2)).toEqual({
      index: 0,
      count: 3,
      replicas: 2,
    });
    expect(() => shardFromHostname('monitor', 3)).toThrow(/no trailing ordinal/);
    expect(() => shardFromHostname('monitor-3', 3)).toThrow(/only 3 shards/);
  });

  it('refuses shard arguments that make no sense, naming them', () => {
    expect(() => parseShard('3/3')).toThrow(ShardError);
    expect(() => parseShard('1-3')).toThrow(/expected i\/N/);
    expect(() => parseShard('0/0')).toThrow(/whole number >= 1/);
    expect(() => parseShard('0/3', 4)).toThrow(
      /replicas must be a whole number from 1 to the shard count 3/,
    );
    expect(describeShard(parseShard('1/3', 2))).toBe('1/3 (replicas 2)');
  });
});
