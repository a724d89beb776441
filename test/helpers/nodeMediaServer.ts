import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForClosed, waitForListening } from './ports';
import { spawnTracked, trackStoppable } from './processes';

export interface NodeMediaServerHandle {
  /** The RTMP port on 127.0.0.1 (live: rtmp://127.0.0.1:PORT/live/NAME). */
  readonly port: number;
  readonly pid: number;
  /** Its log output so far (level NMS_LOG_LEVEL, default warn). */
  output(): string;
  /** SIGTERM (the server stops itself), SIGKILL after 5 s; waits until the port closed. */
  stop(): Promise<void>;
}

/** Starts node-media-server (npm, v4) in a child Node process and waits until its port accepts. */
export async function startNodeMediaServer(
  options: { startTimeoutMs?: number } = {},
): Promise<NodeMediaServerHandle> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'rtmp-actors-nms-'));
  const proc = spawnTracked('node-media-server', process.execPath, [
    join(__dirname, 'nms-child.js'),
    String(port),
    dataDir,
  ]);
  const output = (): string => `${proc.stdoutTail()}${proc.stderrTail()}`;
  try {
    await waitForListening(port, options.startTimeoutMs ?? 10_000, () => proc.running);
  } catch (err) {
    await proc.stop('SIGKILL', 1000);
    throw new Error(`node-media-server did not start: ${(err as Error).message}\n${output()}`);
  }
  const handle: NodeMediaServerHandle = {
    port,
    pid: proc.pid,
    output,
    stop: async () => {
      await proc.stop('SIGTERM', 5000);
      await waitForClosed(port, 2000);
    },
  };
  trackStoppable(handle);
  return handle;
}
