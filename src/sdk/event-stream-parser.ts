/**
 * A Server-Sent Events parser (the `text/event-stream` format of the HTML standard, §9.2.6): text goes in as it
 * arrives, in chunks cut anywhere, and whole messages come out.
 *
 * Invariant: each character is scanned once, whatever the chunking (issue #14: rescanning the buffer on every chunk
 * made one 8 MB event take 5 s). A line not yet ended is kept as the pieces that arrived, joined once when it ends.
 */

/** One dispatched message. `event` defaults to "message"; `id` is the last id seen, as the standard says. */
export interface EventStreamMessage {
  event: string;
  data: string;
  id: string | undefined;
}

const LF = 10;
const CR = 13;
/** A line ends at CRLF, a lone CR or a lone LF. */
const LINE_END = /[\r\n]/g;

export class EventStreamParser {
  /** The pieces of the line not yet ended. */
  #pending: string[] = [];
  /** The last chunk ended in CR: a LF that starts the next one belongs to the same line end. */
  #afterCr = false;
  #started = false;
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  /** The last `retry:` the server asked for, in ms. */
  retryMs: number | undefined;

  /** Feeds decoded text; returns the messages it completed. */
  push(text: string): EventStreamMessage[] {
    if (text.length === 0) return [];
    let start = 0;
    if (!this.#started) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.#afterCr && text.charCodeAt(start) === LF) start += 1;
    this.#afterCr = false;
    const out: EventStreamMessage[] = [];
    // A regex of its own, so that no two parsers share its lastIndex.
    const lineEnd = new RegExp(LINE_END);
    lineEnd.lastIndex = start;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      const end = match.index;
      let line = text.slice(start, end);
      if (this.#pending.length > 0) {
        this.#pending.push(line);
        line = this.#pending.join('');
        this.#pending = [];
      }
      start = end + 1;
      if (text.charCodeAt(end) === CR) {
        if (start === text.length) this.#afterCr = true;
        else if (text.charCodeAt(start) === LF) start += 1;
      }
      lineEnd.lastIndex = start;
      const message = this.#line(line);
      if (message) out.push(message);
    }
    if (start < text.length) this.#pending.push(text.slice(start));
    return out;
  }

  #line(line: string): EventStreamMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the standard says.
        break;
    }
    return undefined;
  }

  #dispatch(): EventStreamMessage | undefined {
    const data = this.#data;
    const event = this.#event;
    this.#data = [];
    this.#event = '';
    if (data.length === 0) return undefined;
    return { event: event === '' ? 'message' : event, data: data.join('\n'), id: this.#id };
  }
}
