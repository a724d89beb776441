/**
 * AMF values as JavaScript sees them.
 * - number, boolean, string, null, undefined map directly.
 * - AMF0 object / AMF3 anonymous object -> AmfObject (plain object).
 * - ECMA array -> AmfEcmaArray (plain object tagged so it re-encodes as an ECMA array).
 * - strict array -> AmfValue[].
 * - date -> Date.
 * - typed object -> AmfTypedObject.
 * - XML document -> AmfXml.
 * - unsupported marker -> AmfUnsupported.
 */
export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | AmfValue[]
  | AmfObject
  | AmfEcmaArray
  | AmfTypedObject
  | AmfXml
  | AmfUnsupported
  | Uint8Array; // AMF3 ByteArray

export interface AmfObject {
  [key: string]: AmfValue;
}

/** Marks an object that travelled as an ECMA array (marker 8), so it encodes back the same way. */
export const ECMA_ARRAY: unique symbol = Symbol.for('rtmp-actors.amf.ecmaArray');
export type AmfEcmaArray = AmfObject & { [ECMA_ARRAY]?: true };

export interface AmfTypedObject {
  readonly kind: 'typedObject';
  className: string;
  properties: AmfObject;
}

export interface AmfXml {
  readonly kind: 'xml';
  xml: string;
}

export interface AmfUnsupported {
  readonly kind: 'unsupported';
}
