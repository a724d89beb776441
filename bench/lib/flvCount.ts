/**
 * Counts FLV tags in a byte stream as it arrives (a tool's stdout), reading only the tag headers
 * and the first two body bytes: cheap enough not to slow the tool being measured.
 */
export interface FlvCounts {
  bytes: number;
  audio: number;
  video: number;
  /** Video tags that carry a coded frame (not an AVC sequence header / end of sequence). */
  videoFrames: number;
  script: number;
  /** Bytes of audio and video tag bodies. */
  mediaBytes: number;
  /** ms since `start` when the first coded video frame's tag was complete. */
  firstVideoFrameMs?: number;
  /** ms since `start` of the last byte. */
  lastByteMs?: number;
  /** A byte sequence that is not FLV. */
  error?: string;
}

export class FlvCounter {
  readonly counts: FlvCounts = {
    bytes: 0,
    audio: 0,
    video: 0,
    videoFrames: 0,
    script: 0,
    mediaBytes: 0,
  };
  private head = Buffer.alloc(13); // FLV header (9) + PreviousTagSize0 (4), then tag headers (11) + 2
  private headLen = 0;
  private phase: 'file' | 'tag' | 'body' = 'file';
  private want = 13;
  private bodyLeft = 0; // bytes of body + PreviousTagSize still to skip
  private tagType = 0;
  private tagCoded = false;

  constructor(private readonly start: bigint) {}

  private now(): number {
    return Number(process.hrtime.bigint() - this.start) / 1e6;
  }

  push(chunk: Buffer): void {
    const c = this.counts;
    c.bytes += chunk.byteLength;
    c.lastByteMs = this.now();
    if (c.error) return;
    let p = 0;
    while (p < chunk.byteLength) {
      if (this.phase === 'body') {
        const n = Math.min(this.bodyLeft, chunk.byteLength - p);
        this.bodyLeft -= n;
        p += n;
        if (this.bodyLeft === 0) this.endTag();
        continue;
      }
      const n = Math.min(this.want - this.headLen, chunk.byteLength - p);
      chunk.copy(this.head, this.headLen, p, p + n);
      this.headLen += n;
      p += n;
      if (this.headLen < this.want) continue;
      if (this.phase === 'file') {
        if (this.head.toString('latin1', 0, 3) !== 'FLV') {
          c.error = 'no FLV signature';
          return;
        }
        this.phase = 'tag';
        this.headLen = 0;
        this.want = 11;
      } else if (this.want === 11) {
        // Tag header: type, u24 size; then read two body bytes to classify video (if any).
        this.tagType = this.head[0] & 0x1f;
        const size = this.head.readUIntBE(1, 3);
        if (this.tagType === 8 || this.tagType === 9) c.mediaBytes += size;
        if (this.tagType === 9 && size >= 2) {
          this.want = 13;
        } else {
          this.tagCoded = this.tagType === 9;
          this.phase = 'body';
          this.bodyLeft = size + 4;
          if (this.bodyLeft === 0) this.endTag();
        }
      } else {
        // Tag header + two body bytes of a video tag.
        const size = this.head.readUIntBE(1, 3);
        const b0 = this.head[11];
        const b1 = this.head[12];
        const ex = (b0 & 0x80) !== 0;
        if (ex) {
          const packetType = b0 & 0x0f; // 1 CodedFrames, 3 CodedFramesX
          this.tagCoded = packetType === 1 || packetType === 3;
        } else if ((b0 & 0x0f) === 7 || (b0 & 0x0f) === 12 || (b0 & 0x0f) === 13) {
          this.tagCoded = b1 === 1; // AVC / HEVC NALU
        } else {
          this.tagCoded = b0 >> 4 !== 5; // not an info/command frame
        }
        this.phase = 'body';
        this.bodyLeft = size - 2 + 4;
        if (this.bodyLeft === 0) this.endTag();
      }
    }
  }

  private endTag(): void {
    const c = this.counts;
    if (this.tagType === 8) c.audio++;
    else if (this.tagType === 9) {
      c.video++;
      if (this.tagCoded) {
        c.videoFrames++;
        if (c.firstVideoFrameMs === undefined) c.firstVideoFrameMs = this.now();
      }
    } else if (this.tagType === 18) c.script++;
    this.phase = 'tag';
    this.headLen = 0;
    this.want = 11;
  }
}
