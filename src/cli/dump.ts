import { createReadStream } from 'node:fs';
import type { Command } from './types';
import { ExitCode } from './exitCodes';
import { toJsonValue } from './json';
import { ChunkDecoder } from '../protocol/chunk';
import { decodeMessage } from '../protocol/message';
import type { RtmpMessage } from '../protocol/message/types';
import { MESSAGE_TYPE_NAMES, type RawMessage } from '../protocol/types';
import { parseAudioHeader, parseVideoHeader } from '../protocol/flv';
import { validateClientDigest, validateServerDigest } from '../protocol/handshake';
import { isProtocolError } from '../protocol/errors';

const HANDSHAKE_BYTES = 1 + 1536 + 1536;

/** One JSON line per message: header fields, the decoded body, codec facts for media. */
export function describeMessage(raw: RawMessage, message: RtmpMessage): Record<string, unknown> {
  const line: Record<string, unknown> = {
    timestamp: raw.timestamp,
    typeId: raw.typeId,
    type: MESSAGE_TYPE_NAMES[raw.typeId] ?? 'Unknown',
    streamId: raw.streamId,
    csid: raw.csid,
    length: raw.payload.byteLength,
  };
  switch (message.type) {
    case 'Audio':
      try {
        const a = parseAudioHeader(message.payload);
        line.codec = a.fourCc ?? a.codec;
        line.packetType = a.packetType ?? (a.isSequenceHeader ? 'sequenceHeader' : 'raw');
        if (a.isSequenceHeader) line.sequenceHeader = true;
        if (a.timestampNanoOffset !== undefined) line.timestampOffsetNano = a.timestampNanoOffset;
        if (a.tracks) {
          line.multitrack = a.multitrack;
          line.tracks = a.tracks.map((t) => ({
            trackId: t.trackId,
            codec: t.fourCc,
            length: t.length,
          }));
        }
      } catch (e) {
        line.mediaError = (e as Error).message;
      }
      break;
    case 'Video':
      try {
        const v = parseVideoHeader(message.payload);
        line.codec = v.fourCc ?? v.codec;
        line.frameType = v.frameType;
        line.packetType = v.packetType;
        if (v.enhanced) line.enhanced = true;
        if (v.compositionTime !== undefined) line.compositionTime = v.compositionTime;
        if (v.timestampNanoOffset !== undefined) line.timestampOffsetNano = v.timestampNanoOffset;
        if (v.tracks) {
          line.multitrack = v.multitrack;
          line.tracks = v.tracks.map((t) => ({
            trackId: t.trackId,
            codec: t.fourCc,
            compositionTime: t.compositionTime,
            length: t.length,
          }));
        }
      } catch (e) {
        line.mediaError = (e as Error).message;
      }
      break;
    case 'Command':
      line.name = message.name;
      line.transactionId = message.transactionId;
      line.commandObject = toJsonValue(message.commandObject);
      line.args = toJsonValue(message.args);
      break;
    case 'Data':
      line.name = message.name;
      line.values = toJsonValue(message.values);
      break;
    case 'Aggregate':
      line.messages = message.messages.length;
      break;
    case 'Unknown':
    case 'SharedObject':
      break;
    case 'UserControl': {
      const { timestamp: _t, streamId: eventStreamId, csid: _c, type: _ty, ...body } = message;
      Object.assign(line, toJsonValue(body) as object);
      if ('bufferLength' in message || message.event.startsWith('Stream'))
        line.eventStreamId = eventStreamId;
      break;
    }
    default: {
      const { timestamp: _t, streamId: _s, csid: _c, type: _ty, ...body } = message;
      Object.assign(line, toJsonValue(body) as object);
    }
  }
  return line;
}

function describeHandshake(bytes: Buffer, from: 'server' | 'client'): Record<string, unknown> {
  const version = bytes[0];
  const p1 = bytes.subarray(1, 1537);
  const zero = p1.readUInt32BE(4) === 0;
  const digest = from === 'client' ? validateClientDigest(p1) : validateServerDigest(p1);
  return {
    handshake: from === 'client' ? 'C0+C1+C2' : 'S0+S1+S2',
    version,
    time: p1.readUInt32BE(0),
    form: zero ? 'simple' : digest ? 'digest' : 'simple (unverified version field)',
    ...(digest ? { digestScheme: digest.scheme, digestOffset: digest.offset } : {}),
  };
}

export const dumpCommand: Command = {
  spec: {
    name: 'dump',
    summary: 'decode one direction of a captured RTMP session into JSON lines',
    usage: 'rtmp-actors dump <file> [--from server|client]',
    description:
      'The file holds the raw TCP bytes of one direction, starting at the first handshake byte.\n' +
      'Prints one JSON line for the handshake, then one per message. A broken stream ends with\n' +
      'an {"error": ...} line naming the offset and the problem, and a non-zero exit.',
    options: [
      {
        name: 'from',
        type: 'string',
        valueName: 'server|client',
        description: 'which side wrote the bytes (only changes how the handshake is checked)',
        default: 'server',
      },
      { name: 'max-chunk-size', type: 'number', description: 'largest Set Chunk Size accepted' },
      { name: 'max-message-size', type: 'number', description: 'largest message accepted (bytes)' },
    ],
    examples: [
      'rtmp-actors dump test/fixtures/sessions/rtmpdump-nginx-play.s2c.bin',
      'rtmp-actors dump capture.c2s.bin --from client | jq -c "select(.type==\\"CommandAmf0\\")"',
    ],
  },
  async run(args, io) {
    const [file] = args.positionals;
    if (!file) {
      io.stderr.write('rtmp-actors dump: which file? (see --help)\n');
      return ExitCode.Usage;
    }
    const from = args.options.from === 'client' ? 'client' : 'server';
    const limits: Record<string, number> = {};
    if (typeof args.options['max-chunk-size'] === 'number')
      limits.maxChunkSize = args.options['max-chunk-size'];
    if (typeof args.options['max-message-size'] === 'number')
      limits.maxMessageSize = args.options['max-message-size'];
    const decoder = new ChunkDecoder(limits);
    const out = io.stdout;
    let offset = 0;
    let head: Buffer[] = [];
    let headLength = 0;
    let count = 0;
    let lines: string[] = [];
    const flush = (): Promise<void> | void => {
      if (!lines.length) return;
      const ok = out.write(lines.join(''));
      lines = [];
      if (!ok) return new Promise((resolve) => out.once('drain', () => resolve()));
    };
    const errorLine = (
      problem: string,
      at: number,
      extra: Record<string, unknown> = {},
    ): number => {
      lines.push(JSON.stringify({ error: problem, offset: at, messages: count, ...extra }) + '\n');
      void flush();
      return ExitCode.ProtocolError;
    };
    let stream: AsyncIterable<Buffer>;
    try {
      stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    } catch (e) {
      io.stderr.write(`rtmp-actors dump: ${(e as Error).message}\n`);
      return ExitCode.Failure;
    }
    try {
      for await (const chunk of stream) {
        let bytes: Buffer = chunk;
        if (headLength < HANDSHAKE_BYTES) {
          head.push(bytes);
          headLength += bytes.byteLength;
          if (headLength < HANDSHAKE_BYTES) continue;
          const all = Buffer.concat(head);
          head = [];
          if (all[0] !== 3) return errorLine(`bad RTMP version ${all[0]} (expected 3)`, 0);
          lines.push(JSON.stringify(describeHandshake(all, from)) + '\n');
          bytes = all.subarray(HANDSHAKE_BYTES);
          offset = HANDSHAKE_BYTES;
        }
        const readStart = offset;
        try {
          decoder.pushTo(bytes, (raw) => {
            count++;
            let message: RtmpMessage;
            try {
              message = decodeMessage(raw, limits);
            } catch (e) {
              if (!isProtocolError(e)) throw e;
              lines.push(
                JSON.stringify({
                  ...describeMessage(raw, {
                    type: 'Unknown',
                    typeId: raw.typeId,
                    payload: raw.payload,
                    timestamp: raw.timestamp,
                    streamId: raw.streamId,
                  }),
                  decodeError: `${e.name} ${e.code}: ${e.message}`,
                }) + '\n',
              );
              return;
            }
            lines.push(JSON.stringify(describeMessage(raw, message)) + '\n');
          });
        } catch (e) {
          if (!isProtocolError(e)) throw e;
          const at =
            typeof e.details.offset === 'number'
              ? readStart + e.details.offset
              : decoder.bytesReceived + HANDSHAKE_BYTES;
          return errorLine(`${e.name} ${e.code}: ${e.message}`, at, {
            details: toJsonValue(e.details),
          });
        }
        offset += bytes.byteLength;
        await flush();
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR') {
        io.stderr.write(`rtmp-actors dump: cannot read ${file}: ${err.message}\n`);
        return ExitCode.Failure;
      }
      throw e;
    }
    if (headLength < HANDSHAKE_BYTES)
      return errorLine('the stream ends inside the handshake', headLength);
    if (decoder.bufferedBytes > 0 || decoder.hasPartialHeader) {
      await flush();
      return errorLine('the stream ends inside a message', offset, {
        buffered: decoder.bufferedBytes,
      });
    }
    await flush();
    return ExitCode.Ok;
  },
};
