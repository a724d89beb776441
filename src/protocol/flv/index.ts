/** FLV files and media tags: reader, writer, tag-header parsing, codec configuration records. */
export * from './reader';
export * from './writer';
export * from './media';
export * from './enhanced';
export * from './avc';
