/**
 * Issue 14, reproduction 2: the SDK's event-stream parser rescanned its whole buffer on every chunk, so one event of
 * 2, 4 and 8 MB fed in 64 KiB chunks took 0.25, 1.1 and 4.9 s (quadratic: 32 MB took about 80 s). The gateway gets
 * the registry's snapshot as one event, and stopped proxying for that long on every reconnect. Each character is now
 * scanned once; the cases below cut the stream where a line end, a field or a character could be split.
 */
import { describe, expect, it } from 'vitest';
import { EventStreamParser } from '../../src/sdk/event-stream-parser.js';
import type { EventStreamMessage } from '../../src/sdk/event-stream-parser.js';

const CHUNK = 64 * 1024;

/** Feeds `text` cut into chunks of `size` characters. */
function parse(text: string, size: number, parser = new EventStreamParser()): EventStreamMessage[] {
  const out: EventStreamMessage[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...parser.push(text.slice(i, i + size)));
  return out;
}

/** Feeds `text` as watch.ts does: UTF-8 bytes cut into chunks of `size` bytes, through a streaming decoder. */
function parseBytes(text: string, size: number): EventStreamMessage[] {
  const bytes = new TextEncoder().encode(text);
  const decoder = new TextDecoder();
  const parser = new EventStreamParser();
  const out: EventStreamMessage[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    out.push(...parser.push(decoder.decode(bytes.subarray(i, i + size), { stream: true })));
  }
  out.push(...parser.push(decoder.decode()));
  return out;
}

describe('the event-stream parser under large events (issue #14)', () => {
  it('parses one 32 MB event fed in 64 KiB chunks in linear time', () => {
    const data = 'x'.repeat(32 * 1024 * 1024);
    const text = `event: snapshot\nid: 41\ndata: ${data}\n\nevent: registered\nid: 42\ndata: {}\n\n`;
    const started = performance.now();
    const messages = parse(text, CHUNK);
    const elapsed = performance.now() - started;
    expect(messages).toHaveLength(2);
    expect(messages[0]?.event).toBe('snapshot');
    expect(messages[0]?.id).toBe('41');
    expect(messages[0]?.data.length).toBe(data.length);
    expect(messages[0]?.data === data).toBe(true);
    expect(messages[1]).toEqual({ event: 'registered', id: '42', data: '{}' });
    // Linear takes well under a second; the quadratic parser took over a minute. The bound only tells them apart.
    expect(elapsed).toBeLessThan(15_000);
  });

  it('keeps a multi-line event whose lines each span many chunks', () => {
    const line = 'y'.repeat(3 * CHUNK + 17);
    const text = `data: ${line}\r\ndata:${line}\rdata\n\r\n`;
    expect(parse(text, CHUNK)).toEqual([{ event: 'message', id: undefined, data: `${line}\n${line}\n` }]);
  });
});

describe('the event-stream parser at awkward chunk boundaries', () => {
  const stream =
    '\uFEFF: a comment\r\n' +
    'retry: 2500\r\n' +
    'event: status\r\nid: 7\r\ndata: first\r\ndata:  second, its space kept\r\ndata\r\n\r\n' +
    ':another comment\r' +
    'id: 8\rdata: é ü 😀 ✓\r\r' +
    'event: health\nid: bad\u0000id\nunknown: field\ndata: after\n\n' +
    'event: dropped\n\n' +
    'data: last\n\n';
  const expected: EventStreamMessage[] = [
    { event: 'status', id: '7', data: 'first\n second, its space kept\n' },
    { event: 'message', id: '8', data: 'é ü 😀 ✓' },
    { event: 'health', id: '8', data: 'after' },
    { event: 'message', id: '8', data: 'last' },
  ];

  it('parses the same messages whatever the chunk size, including a CRLF split between chunks', () => {
    for (let size = 1; size <= stream.length; size++) {
      const parser = new EventStreamParser();
      expect(parse(stream, size, parser), `chunks of ${size}`).toEqual(expected);
      expect(parser.retryMs).toBe(2500);
    }
  });

  it('parses the same messages from UTF-8 bytes cut inside a character', () => {
    const bytes = new TextEncoder().encode(stream).length;
    for (let size = 1; size <= bytes; size++)
      expect(parseBytes(stream, size), `chunks of ${size} bytes`).toEqual(expected);
  });

  it('takes a CR at the end of one chunk and the LF at the start of the next as one line end', () => {
    const parser = new EventStreamParser();
    expect(parser.push('data: a\r')).toEqual([]);
    expect(parser.push('')).toEqual([]);
    // Had the LF counted as a second line end, the empty line would have dispatched before "data: b".
    expect(parser.push('\ndata: b\r')).toEqual([]);
    expect(parser.push('\n\r')).toEqual([{ event: 'message', id: undefined, data: 'a\nb' }]);
    expect(parser.push('\n')).toEqual([]);
  });

  it('drops a byte order mark only at the start of the stream, even when it comes alone', () => {
    const parser = new EventStreamParser();
    expect(parser.push('\uFEFF')).toEqual([]);
    expect(parser.push('data: x\n\n')).toEqual([{ event: 'message', id: undefined, data: 'x' }]);
    // A later BOM is part of the field name, which is then unknown.
    expect(parser.push('\uFEFFdata: y\n\ndata: z\n\n')).toEqual([{ event: 'message', id: undefined, data: 'z' }]);
  });
});
