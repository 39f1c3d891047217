import { describe, expect, it } from 'vitest';
import { EventStreamParser } from './event-stream-parser.js';

describe('EventStreamParser', () => {
  it('parses events with their type, id and data', () => {
    const parser = new EventStreamParser();
    const messages = parser.push('retry: 1000\n\nevent: registered\nid: 7\ndata: {"a":1}\n\n');
    expect(messages).toEqual([{ event: 'registered', id: '7', data: '{"a":1}' }]);
    expect(parser.retryMs).toBe(1000);
  });

  it('reassembles events cut anywhere, including between CR and LF', () => {
    const text = 'event: status\r\nid: 12\r\ndata: one\r\ndata: two\r\n\r\nevent: health\rid: 13\rdata: x\r\r';
    for (let size = 1; size <= text.length; size++) {
      const parser = new EventStreamParser();
      const messages = [];
      for (let i = 0; i < text.length; i += size) messages.push(...parser.push(text.slice(i, i + size)));
      expect(messages).toEqual([
        { event: 'status', id: '12', data: 'one\ntwo' },
        { event: 'health', id: '13', data: 'x' },
      ]);
    }
  });

  it('skips comments and events without data, and keeps the last id', () => {
    const parser = new EventStreamParser();
    expect(parser.push(': keep-alive\n\nid: 3\n\n')).toEqual([]);
    expect(parser.push('data: plain\n\n')).toEqual([{ event: 'message', id: '3', data: 'plain' }]);
  });

  it('drops a leading byte order mark', () => {
    expect(new EventStreamParser().push('\uFEFFdata: x\n\n')).toEqual([{ event: 'message', id: undefined, data: 'x' }]);
  });
});
