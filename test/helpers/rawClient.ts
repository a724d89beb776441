/** A bare RTMP client for protocol-level server tests: our handshake and chunk codecs, no machines. */
import { connect, type Socket } from 'node:net';
import { ChunkDecoder, ChunkEncoder } from '../../src/protocol/chunk';
import { HandshakeClient } from '../../src/protocol/handshake';
import { decodeMessage, encodeMessage } from '../../src/protocol/message';
import type { RtmpMessage } from '../../src/protocol/message/types';

export class RawClient {
  private readonly socket: Socket;
  private readonly encoder = new ChunkEncoder({ chunkSize: 4096 });
  private readonly decoder = new ChunkDecoder();
  readonly received: RtmpMessage[] = [];
  private handshake = new HandshakeClient({ form: 'simple' });
  private done = false;

  /** Set when the server closed the socket. */
  closed = false;

  /** `handshake: false`: connect only, send nothing. */
  constructor(port: number, options: { handshake?: boolean } = {}) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (b: Buffer) => this.onData(b));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
    if (options.handshake !== false) this.socket.write(this.handshake.start());
  }

  private onData(b: Uint8Array): void {
    let rest: Uint8Array = b;
    if (!this.done) {
      const p = this.handshake.push(b);
      if (p.send.byteLength) this.socket.write(p.send);
      if (p.kind !== 'completed') return;
      this.done = true;
      rest = p.remaining;
    }
    for (const raw of this.decoder.push(rest)) this.received.push(decodeMessage(raw));
  }

  get handshaken(): boolean {
    return this.done;
  }

  send(m: RtmpMessage): void {
    this.socket.write(this.encoder.encode(encodeMessage(m)));
  }

  setChunkSize(size: number): void {
    this.send({ type: 'SetChunkSize', chunkSize: size, timestamp: 0, streamId: 0 });
    this.encoder.setChunkSize(size);
  }

  /** Stops reading: the server's writes back up. */
  stopReading(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }
}
