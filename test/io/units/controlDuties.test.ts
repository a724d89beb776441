import { createControlDuties } from '../../../src/io/controlDuties';

describe('the control duties', () => {
  it('owes no acknowledgement before the peer sets a window', () => {
    const d = createControlDuties();
    expect(d.bytesReceived(10_000_000)).toBeUndefined();
  });

  it('owes an acknowledgement each time bytes received pass a window, counted from when it was set', () => {
    const d = createControlDuties();
    d.bytesReceived(500);
    d.setAckWindow(1000);
    expect(d.bytesReceived(1499)).toBeUndefined();
    expect(d.bytesReceived(1500)).toBe(1500);
    expect(d.bytesReceived(2000)).toBeUndefined();
    expect(d.bytesReceived(2600)).toBe(2600);
  });

  it('owes one acknowledgement for a read that passes several windows at once', () => {
    const d = createControlDuties();
    d.setAckWindow(100);
    expect(d.bytesReceived(450)).toBe(450);
    expect(d.bytesReceived(499)).toBeUndefined();
    expect(d.bytesReceived(500)).toBe(500);
  });

  it('wraps the sequence number at 2^32', () => {
    const d = createControlDuties();
    d.setAckWindow(2 ** 31);
    expect(d.bytesReceived(2 ** 32 + 5)).toBe(5);
  });

  it('lets our Set Chunk Size jump the queue only when no media waits', () => {
    const d = createControlDuties();
    expect(d.chunkSizeIsControl(0)).toBe(true);
    expect(d.chunkSizeIsControl(3)).toBe(false);
  });
});
