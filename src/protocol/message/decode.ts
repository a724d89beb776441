/**
 * RawMessage -> RtmpMessage for every message type (RTMP spec 5.4, 6.2, 7.1).
 * Sans-IO; broken bodies throw MessageError (or AmfError from the AMF inside), never RangeError.
 */
import { decodeAmf0Values } from '../amf/amf0';
import { asBuffer } from '../amf/bytes';
import { MessageError } from '../errors';
import type { RtmpLimits } from '../limits';
import { MessageTypeId, type RawMessage } from '../types';
import type { RtmpMessage } from './types';

/** User Control event types (RTMP spec 7.1.7). */
export const UserControlEventType = {
  StreamBegin: 0,
  StreamEOF: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

function truncated(raw: RawMessage, need: number, what: string): MessageError {
  return new MessageError(
    'TRUNCATED_BODY',
    `${what} body of ${raw.payload.length} bytes, needs ${need}`,
    { typeId: raw.typeId, length: raw.payload.length, need },
  );
}

function u32(raw: RawMessage, b: Buffer, what: string): number {
  if (b.length < 4) throw truncated(raw, 4, what);
  return b.readUInt32BE(0);
}

/**
 * Decodes a whole message body according to its type id. Header fields (timestamp, streamId,
 * csid) are copied; for User Control events that name a stream (StreamBegin, SetBufferLength...)
 * `streamId` is the event's stream, as types.ts gives both the same field. Audio, video, shared-object and unknown payloads are kept as views, not copied.
 * Data messages: `values` holds every AMF value, the name included; `name` is the first value
 * when it is a string, else ''. Types 15 and 17 may start with one 0 byte, which is skipped.
 */
export function decodeMessage(raw: RawMessage, limits?: Partial<RtmpLimits>): RtmpMessage {
  // Object literals throughout: spreading a header object costs ~1 µs a message on Node 20.
  const { timestamp, streamId, csid } = raw;
  // Audio and video are most messages: build them without the generic path.
  if (raw.typeId === MessageTypeId.Video || raw.typeId === MessageTypeId.Audio) {
    const type = raw.typeId === MessageTypeId.Video ? 'Video' : 'Audio';
    return { timestamp, streamId, csid, type, payload: raw.payload };
  }
  const b = asBuffer(raw.payload);
  switch (raw.typeId) {
    case MessageTypeId.SetChunkSize:
      return {
        timestamp,
        streamId,
        csid,
        type: 'SetChunkSize',
        chunkSize: u32(raw, b, 'Set Chunk Size'),
      };
    case MessageTypeId.Abort:
      return { timestamp, streamId, csid, type: 'Abort', abortCsid: u32(raw, b, 'Abort') };
    case MessageTypeId.Acknowledgement: {
      const sequenceNumber = u32(raw, b, 'Acknowledgement');
      return { timestamp, streamId, csid, type: 'Acknowledgement', sequenceNumber };
    }
    case MessageTypeId.UserControl:
      return decodeUserControl(raw, b);
    case MessageTypeId.WindowAckSize: {
      const windowSize = u32(raw, b, 'Window Ack Size');
      return { timestamp, streamId, csid, type: 'WindowAckSize', windowSize };
    }
    case MessageTypeId.SetPeerBandwidth: {
      if (b.length < 5) throw truncated(raw, 5, 'Set Peer Bandwidth');
      const limitType = b[4];
      if (limitType > 2) {
        throw new MessageError('BAD_VALUE', `Set Peer Bandwidth limit type ${limitType}`, {
          typeId: raw.typeId,
          limitType,
        });
      }
      return {
        timestamp,
        streamId,
        csid,
        type: 'SetPeerBandwidth',
        windowSize: b.readUInt32BE(0),
        limitType: limitType as 0 | 1 | 2,
      };
    }
    case MessageTypeId.DataAmf0:
    case MessageTypeId.DataAmf3: {
      const amf = raw.typeId === MessageTypeId.DataAmf3 ? 3 : 0;
      const values = decodeAmf0Values(b, limits, amf === 3 && b[0] === 0 ? 1 : 0);
      const name = typeof values[0] === 'string' ? values[0] : '';
      return { timestamp, streamId, csid, type: 'Data', amf, name, values };
    }
    case MessageTypeId.CommandAmf0:
    case MessageTypeId.CommandAmf3: {
      const amf = raw.typeId === MessageTypeId.CommandAmf3 ? 3 : 0;
      const values = decodeAmf0Values(b, limits, amf === 3 && b[0] === 0 ? 1 : 0);
      const [name, transactionId] = values;
      if (typeof name !== 'string' || typeof transactionId !== 'number') {
        throw new MessageError(
          'BAD_COMMAND',
          'a command must start with a name and a transaction id',
          {
            typeId: raw.typeId,
            first: values.slice(0, 2).map((v) => typeof v),
          },
        );
      }
      const commandObject = values.length > 2 ? values[2] : null;
      const args = values.slice(3);
      return {
        timestamp,
        streamId,
        csid,
        type: 'Command',
        amf,
        name,
        transactionId,
        commandObject,
        args,
      };
    }
    case MessageTypeId.SharedObjectAmf0:
    case MessageTypeId.SharedObjectAmf3: {
      const amf = raw.typeId === MessageTypeId.SharedObjectAmf3 ? 3 : 0;
      return { timestamp, streamId, csid, type: 'SharedObject', amf, payload: raw.payload };
    }
    case MessageTypeId.Aggregate: {
      const messages = decodeAggregate(raw, b, limits);
      return { timestamp, streamId, csid, type: 'Aggregate', messages };
    }
    default:
      return {
        timestamp,
        streamId,
        csid,
        type: 'Unknown',
        typeId: raw.typeId,
        payload: raw.payload,
      };
  }
}

function decodeUserControl(raw: RawMessage, b: Buffer): RtmpMessage {
  if (b.length < 2) throw truncated(raw, 2, 'User Control');
  const { timestamp, csid } = raw;
  const type = 'UserControl';
  const eventType = b.readUInt16BE(0);
  const needs = (n: number): void => {
    if (b.length < n) throw truncated(raw, n, `User Control event ${eventType}`);
  };
  switch (eventType) {
    case UserControlEventType.StreamBegin:
      needs(6);
      return { timestamp, csid, type, event: 'StreamBegin', streamId: b.readUInt32BE(2) };
    case UserControlEventType.StreamEOF:
      needs(6);
      return { timestamp, csid, type, event: 'StreamEOF', streamId: b.readUInt32BE(2) };
    case UserControlEventType.StreamDry:
      needs(6);
      return { timestamp, csid, type, event: 'StreamDry', streamId: b.readUInt32BE(2) };
    case UserControlEventType.SetBufferLength:
      needs(10);
      return {
        timestamp,
        csid,
        type,
        event: 'SetBufferLength',
        streamId: b.readUInt32BE(2),
        bufferLength: b.readUInt32BE(6),
      };
    case UserControlEventType.StreamIsRecorded:
      needs(6);
      return { timestamp, csid, type, event: 'StreamIsRecorded', streamId: b.readUInt32BE(2) };
    case UserControlEventType.PingRequest:
      needs(6);
      return {
        timestamp,
        streamId: raw.streamId,
        csid,
        type,
        event: 'PingRequest',
        time: b.readUInt32BE(2),
      };
    case UserControlEventType.PingResponse:
      needs(6);
      return {
        timestamp,
        streamId: raw.streamId,
        csid,
        type,
        event: 'PingResponse',
        time: b.readUInt32BE(2),
      };
    default:
      return {
        timestamp,
        streamId: raw.streamId,
        csid,
        type,
        event: 'Unknown',
        eventType,
        data: raw.payload.subarray(2),
      };
  }
}

/** FLV-style tag header inside an aggregate: type, u24 size, u24+u8 timestamp, u24 stream id. */
const TAG_HEADER = 11;
const BACK_POINTER = 4;

function badAggregate(raw: RawMessage, offset: number, reason: string): MessageError {
  return new MessageError('BAD_AGGREGATE', `aggregate: ${reason} at offset ${offset}`, {
    typeId: raw.typeId,
    offset,
    length: raw.payload.length,
  });
}

/**
 * Splits an aggregate body into its sub-messages. Sub-timestamps are rebased so the first
 * sub-message has the aggregate's timestamp; all take the aggregate's stream id and csid.
 * A missing back pointer after the last tag is tolerated; back-pointer values are not checked.
 */
function decodeAggregate(
  raw: RawMessage,
  b: Buffer,
  limits: Partial<RtmpLimits> | undefined,
): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  let pos = 0;
  let first = 0;
  while (pos < b.length) {
    if (pos + TAG_HEADER > b.length) throw badAggregate(raw, pos, 'truncated tag header');
    const typeId = b[pos];
    const size = b.readUIntBE(pos + 1, 3);
    const tagTime = (b.readUIntBE(pos + 4, 3) | (b[pos + 7] << 24)) >>> 0;
    const start = pos + TAG_HEADER;
    const end = start + size;
    if (end > b.length) throw badAggregate(raw, pos, `tag of ${size} bytes overruns the body`);
    if (typeId === MessageTypeId.Aggregate) throw badAggregate(raw, pos, 'nested aggregate');
    if (out.length === 0) first = tagTime;
    const sub: RawMessage = {
      csid: raw.csid,
      timestamp: (raw.timestamp + tagTime - first) >>> 0,
      typeId,
      streamId: raw.streamId,
      payload: raw.payload.subarray(start, end),
    };
    out.push(decodeMessage(sub, limits));
    pos = end === b.length ? end : end + BACK_POINTER;
    if (pos > b.length) throw badAggregate(raw, end, 'truncated back pointer');
  }
  return out;
}
