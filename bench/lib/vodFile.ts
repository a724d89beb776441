/**
 * `npm run bench` section (a), issue 16 goal 3: a VOD saved to a file as a user runs the tools,
 * whole process: `rtmp-actors play URL -o FILE` against `rtmpdump -q -r URL -o FILE`, wall time
 * from spawn to exit and CPU seconds (user + system, from wait4 via /usr/bin/time) of each
 * process. The tools alternate which goes first from round to round, so that neither always
 * meets the machine in the same state; the medians and the per-round ratios are reported.
 *
 * Ours runs without NODE_EXTRA_CA_CERTS, as in every section (see ./oursEnv.ts); the summary's
 * `note` says when it was cleared.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool } from '../../test/helpers';
import { oursEnv } from './oursEnv';
import { spawnMeasured } from './proc';

export type FileTool = 'ours' | 'rtmpdump';

export interface FileRun {
  tool: FileTool;
  run: number;
  wallS: number;
  cpuS: number;
  maxRssMB: number;
  /** Size of the file written. */
  bytes: number;
  code: number;
}

export interface FileSummary {
  runs: FileRun[];
  median: Record<FileTool, { wallS: number; cpuS: number; maxRssMB: number; bytes: number }>;
  /** ours / rtmpdump of the medians. */
  wallRatio: number;
  cpuRatio: number;
  /** ours / rtmpdump round by round (the two ran back to back). */
  wallRatios: number[];
  cpuRatios: number[];
  /** How ours' environment differed from the bench's (NODE_EXTRA_CA_CERTS cleared), if it did. */
  note?: string;
}

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = (v.length - 1) / 2;
  return (v[Math.floor(mid)] + v[Math.ceil(mid)]) / 2;
}

async function once(
  tool: FileTool,
  cli: string,
  url: string,
  dir: string,
  run: number,
): Promise<FileRun> {
  const file = join(dir, `vod-${tool}-${run}.flv`);
  const [cmd, args] =
    tool === 'ours'
      ? [process.execPath, [cli, 'play', url, '-o', file]]
      : [requireTool('rtmpdump'), ['-q', '-r', url, '-o', file]];
  const env = tool === 'ours' ? oursEnv().env : undefined;
  const m = await spawnMeasured(cmd, args, { timeoutMs: 150_000, ...(env ? { env } : {}) }).result;
  let bytes = 0;
  try {
    bytes = statSync(file).size;
  } catch {
    // no file written
  }
  rmSync(file, { force: true });
  return { tool, run, wallS: m.wallS, cpuS: m.cpuS, maxRssMB: m.maxRssMB, bytes, code: m.code };
}

/** `runs` rounds of both tools (plus one warm-up round, not counted). */
export async function vodToFile(o: {
  cli: string;
  url: string;
  dir: string;
  runs: number;
  progress: (text: string) => void;
}): Promise<FileSummary> {
  const runs: FileRun[] = [];
  for (let run = 0; run <= o.runs; run++) {
    const order: FileTool[] = run % 2 === 1 ? ['ours', 'rtmpdump'] : ['rtmpdump', 'ours'];
    for (const tool of order) {
      const r = await once(tool, o.cli, o.url, o.dir, run);
      o.progress(
        `    ${run === 0 ? 'warm-up' : `round ${run}/${o.runs}`} ${tool}: ${r.wallS.toFixed(3)} s wall, ` +
          `${r.cpuS.toFixed(2)} CPU s, ${r.maxRssMB.toFixed(0)} MB RSS, ${(r.bytes / 1e6).toFixed(1)} MB file, exit ${r.code}`,
      );
      if (run > 0) runs.push(r);
    }
  }
  const of = (tool: FileTool) => {
    const rs = runs.filter((r) => r.tool === tool);
    return {
      wallS: median(rs.map((r) => r.wallS)),
      cpuS: median(rs.map((r) => r.cpuS)),
      maxRssMB: median(rs.map((r) => r.maxRssMB)),
      bytes: median(rs.map((r) => r.bytes)),
    };
  };
  const ours = of('ours');
  const rd = of('rtmpdump');
  const paired = (field: 'wallS' | 'cpuS'): number[] =>
    runs
      .filter((r) => r.tool === 'ours')
      .map((r) => {
        const other = runs.find((x) => x.tool === 'rtmpdump' && x.run === r.run);
        return other && other[field] > 0 ? r[field] / other[field] : NaN;
      });
  return {
    runs,
    median: { ours, rtmpdump: rd },
    wallRatio: ours.wallS / rd.wallS,
    cpuRatio: ours.cpuS / rd.cpuS,
    wallRatios: paired('wallS'),
    cpuRatios: paired('cpuS'),
    ...(oursEnv().note ? { note: oursEnv().note } : {}),
  };
}
