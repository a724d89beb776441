/** AMF0 / AMF3 codecs and the AmfValue model. */
export * from './types';
export {
  Amf0Marker,
  createAmf0DecodeContext,
  decodeAmf0,
  decodeAmf0Values,
  ecmaArray,
  encodeAmf0,
  encodeAmf0Values,
  isEcmaArray,
  writeAmf0Value,
  writeAmf0Values,
  type Amf0DecodeContext,
} from './amf0';
export {
  AMF3_INT_MAX,
  AMF3_INT_MIN,
  Amf3Marker,
  createAmf3DecodeContext,
  decodeAmf3,
  decodeAmf3Values,
  encodeAmf3,
  writeAmf3Value,
  type Amf3DecodeContext,
  type Amf3Traits,
} from './amf3';
export { ByteWriter, MAX_ENCODE_DEPTH, MAX_ENCODED_BYTES } from './bytes';
