import * as net from 'node:net';
import { PACKET_SIZE } from '../../src/protocol/handshake';
import { StatusCode, readReply } from '../../src/protocol/message';
import { FAULT_FIGURES, startFaultServer, type FaultServer } from '../../src/testing/faultServers';
import { Probe, probe, sleep, waitFor } from './probe';

const C0C1 = Buffer.alloc(1 + PACKET_SIZE, 0);
C0C1[0] = 3;
const S0S1S2 = 1 + 2 * PACKET_SIZE;

let servers: FaultServer[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(...args: Parameters<typeof startFaultServer>): Promise<FaultServer> {
  const server = await startFaultServer(...args);
  servers.push(server);
  return server;
}

/** A raw TCP client that records every read with its arrival time. */
function rawClient(port: number): {
  socket: net.Socket;
  reads: { at: number; bytes: number }[];
  closed: Promise<void>;
} {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  const reads: { at: number; bytes: number }[] = [];
  socket.on('data', (d: Buffer) => reads.push({ at: Date.now(), bytes: d.length }));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, reads, closed };
}

function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('connect', () => resolve()));
}

describe('silent fault servers', () => {
  it('acceptAndSilence accepts the connection, takes C0+C1 and sends no byte within 1 s', async () => {
    const server = await start('acceptAndSilence');
    const c = rawClient(server.port);
    await connected(c.socket);
    c.socket.write(C0C1);
    await sleep(1000);
    expect(c.reads).toEqual([]);
    expect(server.connections()).toBe(1);
    expect(server.clients()[0].bytesReceived()).toBe(C0C1.length);
    expect(server.clients()[0].handshakeCompleted()).toBe(false);
  });

  it('handshakeThenSilence completes the handshake, records connect and never answers it', async () => {
    const server = await start('handshakeThenSilence');
    const p = new Probe(server.port, { measure: false });
    await waitFor(() => (server.clients()[0]?.received().length ?? 0) > 0);
    await sleep(1000);
    expect(p.bytesRead).toBe(S0S1S2); // nothing after S0+S1+S2 for 1 s after connect arrived
    p.stop('until');
    const result = await p.done;
    expect(result.handshakeDone).toBe(true);
    expect(result.messages).toEqual([]);
    const connect = server.received().find((m) => m.type === 'Command' && m.name === 'connect');
    expect(connect).toMatchObject({ type: 'Command', transactionId: 1 });
    expect(server.clients()[0].handshakeCompleted()).toBe(true);
  });

  it('tricklingHandshake sends the handshake one byte a read at about 10 bytes a second', async () => {
    const server = await start('tricklingHandshake');
    const c = rawClient(server.port);
    await connected(c.socket);
    c.socket.write(C0C1);
    await sleep(1500);
    const total = c.reads.reduce((n, r) => n + r.bytes, 0);
    // One byte at once, then one every 100 ms: 15 or 16 in 1.5 s; allow for timer slack.
    expect(total).toBeGreaterThanOrEqual(11);
    expect(total).toBeLessThanOrEqual(17);
    expect(c.reads.every((r) => r.bytes === 1)).toBe(true);
    const span = (c.reads[c.reads.length - 1].at - c.reads[0].at) / 1000;
    const rate = (c.reads.length - 1) / span;
    expect(rate).toBeGreaterThan(7);
    expect(rate).toBeLessThan(1000 / FAULT_FIGURES.trickleIntervalMs + 1.5);
    expect(total).toBeLessThan(S0S1S2); // the phase would take 5 minutes
  });

  it('closeAfterHandshake closes the connection once C2 arrives, sending nothing after S2', async () => {
    const server = await start('closeAfterHandshake');
    const result = await probe(server.port, { timeoutMs: 3000, measure: false });
    expect(result.handshakeDone).toBe(true);
    expect(result.closedBy).toBe('server');
    expect(result.bytesRead).toBe(S0S1S2);
    expect(result.messages).toEqual([]);
    expect(server.clients()[0].handshakeCompleted()).toBe(true);
  });

  it('rejectConnect answers connect with _error and NetConnection.Connect.Rejected', async () => {
    const server = await start('rejectConnect');
    const result = await probe(server.port, {
      until: (p) => (p.counts.Command ?? 0) > 0,
      timeoutMs: 3000,
      measure: false,
    });
    expect(result.closedBy).toBe('until');
    expect(result.error).toBeUndefined();
    const reply = readReply(result.messages[0]);
    expect(reply).toMatchObject({
      ok: false,
      transactionId: 1,
      info: { level: 'error', code: StatusCode.ConnectRejected },
    });
  });

  it('close() destroys every accepted socket and stops the trickle', async () => {
    const server = await start('tricklingHandshake');
    const c = rawClient(server.port);
    await connected(c.socket);
    c.socket.write(C0C1);
    await sleep(150);
    await server.close();
    await c.closed;
    const readsAtClose = c.reads.length;
    await sleep(250);
    expect(c.reads.length).toBe(readsAtClose);
    expect(server.clients()[0].closed()).toBe(true);
    await expect(server.close()).resolves.toBeUndefined(); // idempotent
  });

  it('counts every connection, hands each socket to onClient and keeps what each client sent apart', async () => {
    const seen: net.Socket[] = [];
    const server = await start('handshakeThenSilence', { onClient: (s) => seen.push(s) });
    for (let n = 0; n < 2; n++) {
      const p = new Probe(server.port, { measure: false });
      await waitFor(() => (server.clients()[n]?.received().length ?? 0) > 0);
      p.stop('until');
      await p.done;
    }
    expect(server.connections()).toBe(2);
    expect(seen).toEqual(server.clients().map((c) => c.socket));
    expect(server.clients().map((c) => c.received().length)).toEqual([1, 1]);
    expect(server.received()).toHaveLength(2);
  });
});
