/**
 * Which targets a monitor process watches when several share one targets file: the hashmod
 * convention of the Prometheus Operator (`shards`) and vmagent (`-promscrape.cluster.*`).
 *
 * - `shardOf(id, N)` is the 32-bit FNV-1a hash of the id's UTF-8 bytes, modulo N. It depends on
 *   the id alone: the same id lands in the same shard on every run, machine and Node version.
 * - Process `i` of `N` with replication `R` watches the targets of shards i, i+1, ..., i+R-1
 *   (mod N): every id is watched by exactly R processes (R = 1: exactly one).
 * - In a StatefulSet the shard index is the pod's ordinal: `monitor-2` is shard 2.
 *
 * Pure: no IO, no clock.
 */

/** This process's part of the targets. */
export interface ShardSpec {
  /** Shard index, 0 <= index < count. */
  index: number;
  /** Number of shards. */
  count: number;
  /** How many consecutive shards this process watches (1 <= replicas <= count). Default 1. */
  replicas: number;
}

/** A shard argument that does not make sense (`--shard 3/2`, `--replicas 0`, a hostname without ordinal). */
export class ShardError extends Error {
  constructor(
    message: string,
    readonly code: 'BAD_SHARD' | 'BAD_REPLICAS' | 'NO_ORDINAL',
    readonly value: string,
  ) {
    super(message);
    this.name = 'ShardError';
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of the UTF-8 bytes of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

/** The shard an id belongs to among `count` shards. */
export function shardOf(id: string, count: number): number {
  return fnv1a32(id) % count;
}

/** True when the process of `spec` watches `id`. */
export function inShard(id: string, spec: ShardSpec): boolean {
  const s = shardOf(id, spec.count);
  return (s - spec.index + spec.count) % spec.count < spec.replicas;
}

function checked(index: number, count: number, replicas: number, text: string): ShardSpec {
  if (!Number.isInteger(count) || count < 1)
    throw new ShardError(
      `shard count must be a whole number >= 1, got "${text}"`,
      'BAD_SHARD',
      text,
    );
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new ShardError(
      `shard index must be 0..${count - 1} (i/N with i < N), got "${text}"`,
      'BAD_SHARD',
      text,
    );
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > count)
    throw new ShardError(
      `replicas must be a whole number from 1 to the shard count ${count}, got ${replicas}`,
      'BAD_REPLICAS',
      String(replicas),
    );
  return { index, count, replicas };
}

/** `"i/N"` (e.g. `1/3`) → the shard spec. */
export function parseShard(text: string, replicas = 1): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new ShardError(`expected i/N (e.g. 0/3), got "${text}"`, 'BAD_SHARD', text);
  return checked(Number(m[1]), Number(m[2]), replicas, text);
}

/**
 * The shard of a StatefulSet pod from its hostname's trailing ordinal: `monitor-2` of 3 → 2/3.
 * A hostname without a trailing number is an error (it is not a StatefulSet pod).
 */
export function shardFromHostname(hostname: string, count: number, replicas = 1): ShardSpec {
  const host = hostname.split('.')[0];
  const m = /-(\d+)$/.exec(host);
  if (!m)
    throw new ShardError(
      `hostname "${host}" has no trailing ordinal (a StatefulSet pod is named <name>-<ordinal>)`,
      'NO_ORDINAL',
      host,
    );
  const index = Number(m[1]);
  if (index >= count)
    throw new ShardError(
      `hostname "${host}" has ordinal ${index}, but there are only ${count} shards`,
      'BAD_SHARD',
      host,
    );
  return checked(index, count, replicas, `${index}/${count}`);
}

/** `0/3` or `0/3 (replicas 2)`, for logs. */
export function describeShard(spec: ShardSpec): string {
  return `${spec.index}/${spec.count}${spec.replicas > 1 ? ` (replicas ${spec.replicas})` : ''}`;
}
