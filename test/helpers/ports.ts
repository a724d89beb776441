import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { waitFor } from './processes';

function listenEphemeral(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A loopback TCP port that was free a moment ago (listen on 127.0.0.1:0, read it, close). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** `count` distinct free loopback ports (all held open until every one is chosen). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenEphemeral());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}

/**
 * True when some socket listens on 127.0.0.1:`port` (or any address), read from
 * /proc/net/tcp{,6} so that no connection is made: a one-shot server such as
 * `ffmpeg -listen 1` would take a probe for its one client.
 */
export function isListening(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let readable = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
      readable++;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields: sl local_address rem_address st ...; state 0A is LISTEN
      if (fields.length > 3 && fields[3] === '0A' && fields[1].endsWith(`:${hexPort}`)) return true;
    }
  }
  if (readable === 0)
    throw new Error('the harness reads listening ports from /proc/net/tcp (Linux)');
  return false;
}

/**
 * Waits until `port` is listening; fails early when `stillStarting()` turns false (the server
 * process died) and after `timeoutMs`.
 */
export async function waitForListening(
  port: number,
  timeoutMs: number,
  stillStarting: () => boolean = () => true,
): Promise<void> {
  let died = false;
  const ok = await waitFor(() => {
    if (isListening(port)) return true;
    if (!stillStarting()) {
      died = true;
      return true;
    }
    return false;
  }, timeoutMs);
  if (died) throw new Error(`the server exited before listening on 127.0.0.1:${port}`);
  if (!ok) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** Waits until nothing listens on `port` any more. */
export async function waitForClosed(port: number, timeoutMs: number): Promise<boolean> {
  return waitFor(() => !isListening(port), timeoutMs);
}
