/**
 * RtmpMessage -> RawMessage, the inverse of decodeMessage. Sans-IO.
 */
import { writeAmf0Values } from '../amf/amf0';
import { ByteWriter } from '../amf/bytes';
import type { AmfValue } from '../amf/types';
import { MessageError } from '../errors';
import { Csid, MessageTypeId, type RawMessage } from '../types';
import { UserControlEventType } from './decode';
import type { RtmpMessage, UserControlEvent } from './types';

/**
 * The chunk stream id a message goes on when it names none (librtmp's choices):
 * protocol control and user control 2; commands 3 on stream 0 and 8 on a NetStream;
 * audio 4; video 6; data 5; aggregates 6 (they carry media); shared objects and unknown types 3.
 */
export function defaultCsid(msg: RtmpMessage): number {
  switch (msg.type) {
    case 'SetChunkSize':
    case 'Abort':
    case 'Acknowledgement':
    case 'UserControl':
    case 'WindowAckSize':
    case 'SetPeerBandwidth':
      return Csid.Control;
    case 'Command':
      return msg.streamId === 0 ? Csid.Command : Csid.StreamCommand;
    case 'Audio':
      return Csid.Audio;
    case 'Video':
    case 'Aggregate':
      return Csid.Video;
    case 'Data':
      return Csid.Data;
    default:
      return Csid.Command;
  }
}

function checkU32(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new MessageError('BAD_VALUE', `${field} must be an integer in 0 … 2^32-1, got ${v}`, {
      field,
      value: v,
    });
  }
  return v;
}

function u32Body(v: number, field: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(checkU32(v, field), 0);
  return b;
}

/**
 * Encodes a message into its type id and body; header fields are copied, and csid defaults to
 * `defaultCsid(msg)`. User Control goes on message stream 0 whatever `streamId` holds (for
 * StreamBegin and the like it is the event's stream). Commands of type 17 and data of type 15 get the leading 0 byte and AMF0
 * values (a Uint8Array switches to AMF3). A Data message writes `values`, preceded by `name` when
 * `name` is not '' and differs from `values[0]`. Aggregate sub-messages are written as FLV tags
 * with their absolute timestamps, the aggregate's timestamp being the first one's.
 */
export function encodeMessage(msg: RtmpMessage): RawMessage {
  const typed = encodeBody(msg);
  return {
    csid: msg.csid ?? defaultCsid(msg),
    timestamp: msg.timestamp,
    typeId: typed.typeId,
    // A User Control event's own `streamId` shares the header's field name (types.ts), so it
    // cannot be the message stream id: user control always travels on stream 0 (spec 6.2).
    streamId: msg.type === 'UserControl' ? 0 : msg.streamId,
    payload: typed.payload,
  };
}

function encodeBody(msg: RtmpMessage): { typeId: number; payload: Uint8Array } {
  switch (msg.type) {
    case 'SetChunkSize':
      return {
        typeId: MessageTypeId.SetChunkSize,
        payload: u32Body(msg.chunkSize, 'chunkSize'),
      };
    case 'Abort':
      return { typeId: MessageTypeId.Abort, payload: u32Body(msg.abortCsid, 'abortCsid') };
    case 'Acknowledgement':
      return {
        typeId: MessageTypeId.Acknowledgement,
        payload: u32Body(msg.sequenceNumber, 'sequenceNumber'),
      };
    case 'UserControl':
      return { typeId: MessageTypeId.UserControl, payload: encodeUserControl(msg) };
    case 'WindowAckSize':
      return {
        typeId: MessageTypeId.WindowAckSize,
        payload: u32Body(msg.windowSize, 'windowSize'),
      };
    case 'SetPeerBandwidth': {
      if (msg.limitType !== 0 && msg.limitType !== 1 && msg.limitType !== 2) {
        throw new MessageError('BAD_VALUE', `Set Peer Bandwidth limit type ${msg.limitType}`, {
          field: 'limitType',
          value: msg.limitType,
        });
      }
      const b = Buffer.allocUnsafe(5);
      b.writeUInt32BE(checkU32(msg.windowSize, 'windowSize'), 0);
      b[4] = msg.limitType;
      return { typeId: MessageTypeId.SetPeerBandwidth, payload: b };
    }
    case 'Audio':
      return { typeId: MessageTypeId.Audio, payload: msg.payload };
    case 'Video':
      return { typeId: MessageTypeId.Video, payload: msg.payload };
    case 'Data': {
      const values: readonly AmfValue[] =
        msg.name !== '' && msg.values[0] !== msg.name ? [msg.name, ...msg.values] : msg.values;
      return {
        typeId: msg.amf === 3 ? MessageTypeId.DataAmf3 : MessageTypeId.DataAmf0,
        payload: amfBody(msg.amf, values),
      };
    }
    case 'Command':
      return {
        typeId: msg.amf === 3 ? MessageTypeId.CommandAmf3 : MessageTypeId.CommandAmf0,
        payload: amfBody(msg.amf, [msg.name, msg.transactionId, msg.commandObject, ...msg.args]),
      };
    case 'SharedObject':
      return {
        typeId: msg.amf === 3 ? MessageTypeId.SharedObjectAmf3 : MessageTypeId.SharedObjectAmf0,
        payload: msg.payload,
      };
    case 'Aggregate':
      return { typeId: MessageTypeId.Aggregate, payload: encodeAggregate(msg.messages) };
    case 'Unknown':
      return { typeId: msg.typeId, payload: msg.payload };
  }
}

function amfBody(amf: 0 | 3, values: readonly AmfValue[]): Uint8Array {
  const w = new ByteWriter();
  if (amf === 3) w.u8(0); // AMF3 command/data bodies start with a 0 byte, then AMF0 values
  writeAmf0Values(w, values);
  return w.finish();
}

function encodeUserControl(e: UserControlEvent): Buffer {
  if (e.event === 'Unknown') {
    const b = Buffer.allocUnsafe(2 + e.data.length);
    b.writeUInt16BE(e.eventType, 0);
    b.set(e.data, 2);
    return b;
  }
  if (e.event === 'SetBufferLength') {
    const b = Buffer.allocUnsafe(10);
    b.writeUInt16BE(UserControlEventType.SetBufferLength, 0);
    b.writeUInt32BE(checkU32(e.streamId, 'streamId'), 2);
    b.writeUInt32BE(checkU32(e.bufferLength, 'bufferLength'), 6);
    return b;
  }
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(UserControlEventType[e.event], 0);
  const v = e.event === 'PingRequest' || e.event === 'PingResponse' ? e.time : e.streamId;
  b.writeUInt32BE(
    checkU32(v, e.event === 'PingRequest' || e.event === 'PingResponse' ? 'time' : 'streamId'),
    2,
  );
  return b;
}

function encodeAggregate(messages: readonly RtmpMessage[]): Buffer {
  const raws: RawMessage[] = [];
  let total = 0;
  for (const m of messages) {
    if (m.type === 'Aggregate') {
      throw new MessageError('BAD_AGGREGATE', 'an aggregate cannot contain an aggregate', {});
    }
    const raw = encodeMessage(m);
    if (raw.payload.length > 0xffffff) {
      throw new MessageError('BAD_VALUE', 'aggregate sub-message longer than 2^24-1 bytes', {
        field: 'payload',
        value: raw.payload.length,
      });
    }
    raws.push(raw);
    total += 11 + raw.payload.length + 4;
  }
  const b = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const raw of raws) {
    const ts = checkU32(raw.timestamp, 'timestamp');
    const size = raw.payload.length;
    b[pos] = raw.typeId;
    b.writeUIntBE(size, pos + 1, 3);
    b.writeUIntBE(ts & 0xffffff, pos + 4, 3);
    b[pos + 7] = ts >>> 24;
    b.writeUIntBE(0, pos + 8, 3);
    b.set(raw.payload, pos + 11);
    pos += 11 + size;
    b.writeUInt32BE(11 + size, pos);
    pos += 4;
  }
  return b;
}
