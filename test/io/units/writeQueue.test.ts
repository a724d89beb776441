import { createWriteQueue, type WritableEnd } from '../../../src/io/writeQueue';

/** A socket end that records writes and asks to drain when told. */
function fakeEnd() {
  const written: number[] = [];
  const end: {
    destroyed: boolean;
    writableNeedDrain: boolean;
    writableLength: number;
    write(bytes: Uint8Array): boolean;
  } = {
    destroyed: false,
    writableNeedDrain: false,
    writableLength: 0,
    write(bytes: Uint8Array) {
      written.push(bytes[0]);
      return true;
    },
  };
  return { end, written };
}
const b = (tag: number, size = 1): Uint8Array => new Uint8Array(size).fill(tag);

describe('the write queue', () => {
  it('writes at once while the socket takes bytes, and counts them', () => {
    const { end, written } = fakeEnd();
    let counted = 0;
    const q = createWriteQueue(
      () => end,
      (n) => (counted += n),
    );
    q.write(b(1, 3), true);
    q.write(b(2, 5), false);
    expect(written).toEqual([1, 2]);
    expect(counted).toBe(8);
    expect(q.empty).toBe(true);
  });

  it('queues while the socket asks to drain, then lets control messages jump the media queue', () => {
    const { end, written } = fakeEnd();
    const q = createWriteQueue(() => end);
    end.writableNeedDrain = true;
    q.write(b(1), false);
    q.write(b(2), false);
    q.write(b(9), true);
    expect(written).toEqual([]);
    expect(q.mediaQueued).toBe(2);
    end.writableNeedDrain = false;
    q.flush();
    expect(written).toEqual([9, 1, 2]);
    expect(q.empty).toBe(true);
  });

  it('keeps media in order behind media already queued, even once the socket drained', () => {
    const { end, written } = fakeEnd();
    const q = createWriteQueue(() => end);
    end.writableNeedDrain = true;
    q.write(b(1), false);
    end.writableNeedDrain = false;
    q.write(b(2), false);
    expect(written).toEqual([]);
    q.write(b(7), true);
    expect(written).toEqual([7]);
    q.flush();
    expect(written).toEqual([7, 1, 2]);
  });

  it('stops flushing as soon as the socket asks to drain again', () => {
    const { end, written } = fakeEnd();
    const q = createWriteQueue(() => end);
    end.writableNeedDrain = true;
    q.write(b(1), false);
    q.write(b(2), false);
    end.writableNeedDrain = false;
    end.write = (bytes: Uint8Array) => {
      written.push(bytes[0]);
      end.writableNeedDrain = true;
      return false;
    };
    q.flush();
    expect(written).toEqual([1]);
    expect(q.mediaQueued).toBe(1);
  });

  it('reports the media bytes it holds plus what the socket buffers', () => {
    const { end } = fakeEnd();
    const q = createWriteQueue(() => end);
    end.writableNeedDrain = true;
    end.writableLength = 100;
    q.write(b(1, 40), false);
    q.write(b(2, 2), true);
    expect(q.mediaQueuedBytes).toBe(40);
    expect(q.queuedBytes()).toBe(140);
  });

  it('drops writes when there is no socket or it is destroyed', () => {
    const { end, written } = fakeEnd();
    const holder: { socket?: WritableEnd } = {};
    const q = createWriteQueue(() => holder.socket);
    q.write(b(1), true);
    holder.socket = end;
    end.destroyed = true;
    q.write(b(2), false);
    expect(written).toEqual([]);
    expect(q.empty).toBe(true);
  });
});
