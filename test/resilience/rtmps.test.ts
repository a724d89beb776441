/**
 * rtmps through nginx's TLS front (stream module) with throwaway certificates: the right CA
 * plays; a wrong CA, an expired certificate and a certificate for another host name fail with a
 * clear TLS error (code TLS), at once and without retries; `insecure: true` plays whatever the
 * certificate.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { InspectionEvent } from 'xstate';
import type { NetConnectionContext } from '../../machines/netConnectionMachine';
import { type SessionOptions, type StreamOutcome } from '../../src/client';
import {
  makeTestCertificates,
  startFfmpegPublisher,
  startNginxRtmp,
  stopAll,
  waitFor,
  type NginxRtmp,
  type PublisherHandle,
  type TestCertificates,
} from '../helpers';
import { trackSessions, actorIdOf as idOf } from '../helpers/sessions';

jest.setTimeout(60_000);

const openSession = trackSessions();

const SMALL_FLV = path.join(__dirname, '..', 'fixtures', 'media', 'small.flv');
const RETRY = { maxAttempts: 3, baseMs: 100, maxMs: 300 };

interface Result {
  outcome: StreamOutcome | 'playing';
  media: number;
  connection: NetConnectionContext | undefined;
  openings: number;
}

/** Plays rtmps://localhost:PORT/live/x until media arrives (or the stream ends). */
async function tryPlay(port: number, options: Partial<SessionOptions>): Promise<Result> {
  let connection: NetConnectionContext | undefined;
  let openings = 0;
  let opening = false;
  const inspect = (e: InspectionEvent): void => {
    if (e.type !== '@xstate.snapshot' || !idOf(e).startsWith('connection-')) return;
    const snap = e.snapshot as unknown as { value?: unknown; context: NetConnectionContext };
    connection = snap.context;
    const now = JSON.stringify(snap.value) === '{"session":"opening"}';
    if (now && !opening) openings++;
    opening = now;
  };
  const session = openSession({
    url: `rtmps://localhost:${port}/live/x`,
    retry: RETRY,
    timeouts: { transport: 3000, handshake: 3000, connect: 3000 },
    inspect,
    ...options,
  });
  const stream = session.play('x', { start: -1 });
  let media = 0;
  stream.media$.subscribe(() => media++);
  let settled: StreamOutcome | undefined;
  void stream.done.then((o) => (settled = o));
  await waitFor(() => media >= 20 || settled !== undefined, 15_000);
  const outcome = settled ?? 'playing';
  await session.close();
  return { outcome, media, connection, openings };
}

function expectTlsFailure(r: Result, message: RegExp): void {
  expect(r.outcome).toMatchObject({ outcome: 'failed' });
  expect(r.media).toBe(0);
  // A certificate problem is not transient: one attempt, no backoff, code TLS.
  expect(r.openings).toBe(1);
  expect(r.connection?.attempts).toHaveLength(1);
  expect(r.connection?.failure).toMatchObject({ reason: 'TRANSPORT_ERROR', code: 'TLS' });
  expect(r.connection?.failure?.message).toMatch(message);
}

describe('rtmps through nginx’s TLS front', () => {
  const servers: Record<'good' | 'expired' | 'otherhost', NginxRtmp> = {} as never;
  const certs: Record<'good' | 'expired' | 'otherhost' | 'stranger', TestCertificates> =
    {} as never;
  const publishers: PublisherHandle[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-actors-rtmps-'));
    certs.good = await makeTestCertificates(path.join(dir, 'good'), { hostname: 'localhost' });
    certs.expired = await makeTestCertificates(path.join(dir, 'expired'), {
      hostname: 'localhost',
      expired: true,
    });
    certs.otherhost = await makeTestCertificates(path.join(dir, 'otherhost'), {
      hostname: 'otherhost',
    });
    // A CA that signed none of the servers' certificates.
    certs.stranger = await makeTestCertificates(path.join(dir, 'stranger'), {
      hostname: 'localhost',
    });
    for (const kind of ['good', 'expired', 'otherhost'] as const) {
      servers[kind] = await startNginxRtmp({
        tls: { cert: certs[kind].certPath, key: certs[kind].keyPath },
      });
      publishers.push(
        startFfmpegPublisher(`rtmp://127.0.0.1:${servers[kind].port}/live/x`, { file: SMALL_FLV }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await stopAll();
  });

  it('plays rtmps://localhost with the CA that signed the server certificate', async () => {
    const r = await tryPlay(servers.good.tlsPort!, { tls: { ca: certs.good.ca } });
    expect(r.outcome).toBe('playing');
    expect(r.media).toBeGreaterThanOrEqual(20);
  });

  it('fails at once with a TLS error when the certificate is signed by another CA', async () => {
    const r = await tryPlay(servers.good.tlsPort!, { tls: { ca: certs.stranger.ca } });
    expectTlsFailure(r, /certificate|self.signed|issuer/i);
  });

  it('fails at once with a TLS error when the server certificate has expired', async () => {
    const r = await tryPlay(servers.expired.tlsPort!, { tls: { ca: certs.expired.ca } });
    expectTlsFailure(r, /expired/i);
  });

  it('fails at once with a TLS error when the certificate names another host', async () => {
    const r = await tryPlay(servers.otherhost.tlsPort!, { tls: { ca: certs.otherhost.ca } });
    expectTlsFailure(r, /localhost|altnames|host ?name|does not match/i);
  });

  it('plays with a certificate from an unknown CA when insecure is set', async () => {
    const r = await tryPlay(servers.good.tlsPort!, {
      tls: { ca: certs.stranger.ca },
      insecure: true,
    });
    expect(r.outcome).toBe('playing');
    expect(r.media).toBeGreaterThanOrEqual(20);
  });
});
