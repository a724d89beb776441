import type { AmfObject, AmfValue } from '../amf/types';

/** Decoded RTMP messages: a union keyed on `type`. Every message keeps its header fields. */
export interface MessageHeader {
  timestamp: number;
  streamId: number;
  /** Chunk stream id it arrived on, or should be sent on (the encoder picks a default when absent). */
  csid?: number;
}

export type UserControlEvent =
  | { event: 'StreamBegin'; streamId: number }
  | { event: 'StreamEOF'; streamId: number }
  | { event: 'StreamDry'; streamId: number }
  | { event: 'SetBufferLength'; streamId: number; bufferLength: number }
  | { event: 'StreamIsRecorded'; streamId: number }
  | { event: 'PingRequest'; time: number }
  | { event: 'PingResponse'; time: number }
  | { event: 'Unknown'; eventType: number; data: Uint8Array };

export type RtmpMessage = MessageHeader &
  (
    | { type: 'SetChunkSize'; chunkSize: number }
    | { type: 'Abort'; abortCsid: number }
    | { type: 'Acknowledgement'; sequenceNumber: number }
    | ({ type: 'UserControl' } & UserControlEvent)
    | { type: 'WindowAckSize'; windowSize: number }
    | { type: 'SetPeerBandwidth'; windowSize: number; limitType: 0 | 1 | 2 }
    | { type: 'Audio'; payload: Uint8Array }
    | { type: 'Video'; payload: Uint8Array }
    /** AMF0 (type 18) or AMF3 (type 15) data message: `name` is the first value ("onMetaData", "@setDataFrame", "|RtmpSampleAccess"). */
    | { type: 'Data'; amf: 0 | 3; name: string; values: AmfValue[] }
    /** AMF0 (type 20) or AMF3 (type 17) command: name, transaction id, command object, arguments. */
    | {
        type: 'Command';
        amf: 0 | 3;
        name: string;
        transactionId: number;
        commandObject: AmfValue;
        args: AmfValue[];
      }
    | { type: 'SharedObject'; amf: 0 | 3; payload: Uint8Array }
    /** Aggregate (22): its sub-messages, timestamps already made absolute. */
    | { type: 'Aggregate'; messages: RtmpMessage[] }
    | { type: 'Unknown'; typeId: number; payload: Uint8Array }
  );

export type RtmpMessageType = RtmpMessage['type'];
export type MessageOf<T extends RtmpMessageType> = Extract<RtmpMessage, { type: T }>;

/** The information object of onStatus / _result / _error replies. */
export interface StatusInfo extends AmfObject {
  level: string;
  code: string;
  description?: string;
}
