import {
  HandshakeClient,
  HandshakeServer,
  type HandshakeForm,
  type HandshakePeer,
  type HandshakeProgress,
  type HandshakeStep,
} from '../../../src/protocol/handshake';
import { concat, hex, seededRandom, splitAt, toHex } from './helpers';

/** What a fast server may send in the same read as S2: Window Acknowledgement Size 5000000. */
const SERVER_EXTRA = hex(
  '02' + //      basic header: fmt 0, csid 2
    '000000' + // timestamp 0
    '000004' + // message length 4
    '05' + //      type 5: Window Acknowledgement Size
    '00000000' + // message stream id 0
    '004c4b40', // window 5000000
);
/** What a client sends right after C2: Set Chunk Size 4096. */
const CLIENT_EXTRA = hex(
  '02' + //      basic header: fmt 0, csid 2
    '000000' + // timestamp 0
    '000004' + // message length 4
    '01' + //      type 1: Set Chunk Size
    '00000000' + // message stream id 0
    '00001000', // chunk size 4096
);

function makeClient(form: HandshakeForm): HandshakeClient {
  return new HandshakeClient({ form, clock: () => 1000, random: seededRandom(101) });
}
function makeServer(): HandshakeServer {
  return new HandshakeServer({ clock: () => 2000, random: seededRandom(202) });
}

interface Fed {
  sent: Uint8Array;
  events: HandshakeStep[];
  peer: HandshakePeer;
  /** `remaining` of the completing push, plus the pieces the caller still held. */
  after: Uint8Array;
}

/** Byte equality without building strings (the split loops run thousands of times). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Feeds pieces until completion, as a runtime would; later pieces belong to the chunk layer. */
function feed(role: { push(b: Uint8Array): HandshakeProgress }, pieces: Uint8Array[]): Fed {
  const sent: Uint8Array[] = [];
  const events: HandshakeStep[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = role.push(pieces[i]);
    sent.push(p.send);
    events.push(...p.events);
    if (p.kind === 'completed') {
      return {
        sent: concat(...sent),
        events,
        peer: p.peer,
        after: concat(p.remaining, ...pieces.slice(i + 1)),
      };
    }
  }
  throw new Error('handshake did not complete');
}

describe.each(['simple', 'digest'] as const)('client and server in memory, %s form', (form) => {
  // One live conversation gives the two byte streams; determinism lets us replay them split.
  const client = makeClient(form);
  const server = makeServer();
  const c0c1 = client.start();
  const s = server.push(c0c1);
  const c = client.push(concat(s.send, SERVER_EXTRA));
  const last = server.push(concat(c.send, CLIENT_EXTRA));
  const toServer = concat(c0c1, c.send, CLIENT_EXTRA);
  const toClient = concat(s.send, SERVER_EXTRA);
  const expectedEvents = JSON.stringify([
    { step: 'peerHello', version: 3, form },
    { step: 'peerEcho' },
  ]);

  it('completes on both sides in the requested form, each handing back the chunk bytes', () => {
    expect(c.kind).toBe('completed');
    expect(last.kind).toBe('completed');
    if (c.kind !== 'completed' || last.kind !== 'completed') return;
    expect(c.peer.form).toBe(form);
    expect(last.peer.form).toBe(form);
    expect(c.peer.epoch).toBe(2000);
    expect(last.peer.epoch).toBe(1000);
    expect(toHex(c.remaining)).toBe(toHex(SERVER_EXTRA));
    expect(toHex(last.remaining)).toBe(toHex(CLIENT_EXTRA));
    expect(last.send).toHaveLength(0);
    if (form === 'digest') {
      expect(c.peer.s2DigestValid).toBe(true);
      expect(last.peer.c2DigestValid).toBe(true);
    } else {
      expect(c.peer.echoValid).toBe(true);
      expect(last.peer.echoValid).toBe(true);
    }
  });

  it('gives the client the same result for every two-piece split of S0+S1+S2+chunks', () => {
    for (let k = 0; k <= toClient.length; k++) {
      const fresh = makeClient(form);
      fresh.start();
      const fed = feed(fresh, splitAt(toClient, k));
      if (JSON.stringify(fed.events) !== expectedEvents) throw new Error(`events differ at ${k}`);
      if (!same(fed.sent, c.send)) throw new Error(`C2 differs when split at ${k}`);
      if (!same(fed.after, SERVER_EXTRA)) throw new Error(`remaining differs at ${k}`);
    }
  });

  it('gives the server the same result for every two-piece split of C0+C1+C2+chunks', () => {
    for (let k = 0; k <= toServer.length; k++) {
      const fed = feed(makeServer(), splitAt(toServer, k));
      if (JSON.stringify(fed.events) !== expectedEvents) throw new Error(`events differ at ${k}`);
      if (!same(fed.sent, s.send)) throw new Error(`S0+S1+S2 differ when split at ${k}`);
      if (!same(fed.after, CLIENT_EXTRA)) throw new Error(`remaining differs at ${k}`);
    }
  });

  it('gives both sides the same result for 300 random three-piece splits', () => {
    const rnd = seededRandom(303);
    const cut = (len: number): number[] => {
      const r = rnd(4);
      const a = ((r[0] << 8) | r[1]) % (len + 1);
      const b = ((r[2] << 8) | r[3]) % (len + 1);
      return [Math.min(a, b), Math.max(a, b)];
    };
    for (let i = 0; i < 300; i++) {
      const fresh = makeClient(form);
      fresh.start();
      const fc = feed(fresh, splitAt(toClient, ...cut(toClient.length)));
      const fs = feed(makeServer(), splitAt(toServer, ...cut(toServer.length)));
      const ok =
        same(fc.sent, c.send) &&
        same(fc.after, SERVER_EXTRA) &&
        same(fs.sent, s.send) &&
        same(fs.after, CLIENT_EXTRA);
      if (!ok) throw new Error(`three-piece split #${i} differs`);
    }
  });

  it('completes when fed one byte at a time, emitting each step once', () => {
    const fresh = makeClient(form);
    fresh.start();
    const bytes = [...toClient].map((b) => new Uint8Array([b]));
    const fed = feed(fresh, bytes);
    expect(fed.events).toHaveLength(2);
    expect(toHex(fed.sent)).toBe(toHex(c.send));
    expect(toHex(fed.after)).toBe(toHex(SERVER_EXTRA));
  });

  it('lets the client send C2 before S2 arrives (real servers do not wait for it)', () => {
    const fresh = makeClient(form);
    fresh.start();
    const hello = fresh.push(toClient.subarray(0, 1537));
    expect(hello.kind).toBe('inProgress');
    expect(hello.send).toHaveLength(1536);
    expect(hello.events).toEqual([{ step: 'peerHello', version: 3, form }]);
  });
});

it('completes a digest client against a server forced to the simple form', () => {
  const client = makeClient('digest');
  const server = new HandshakeServer({ form: 'simple', random: seededRandom(404) });
  const s = server.push(client.start());
  const c = client.push(s.send);
  const last = server.push(c.send);
  expect(c.kind).toBe('completed');
  expect(last.kind).toBe('completed');
  if (c.kind === 'completed') expect(c.peer).toMatchObject({ form: 'simple', echoValid: true });
  if (last.kind === 'completed')
    expect(last.peer).toMatchObject({ form: 'simple', echoValid: true });
});
