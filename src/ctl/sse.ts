/** One Server-Sent Event as ctl reads it: its id, its type and its data (JSON). */
export interface StreamedEvent {
  id: string | undefined;
  type: string;
  data: Record<string, unknown>;
}

/**
 * Reads an event stream chunk by chunk (text/event-stream: fields on lines, events ended by a
 * blank line, comments from `:`), calling `onEvent` for each whole event whose data is JSON.
 */
export class SseReader {
  #buffer = '';

  constructor(readonly onEvent: (event: StreamedEvent) => void) {}

  push(chunk: string): void {
    this.#buffer += chunk.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      this.#parse(block);
    }
  }

  #parse(block: string): void {
    let id: string | undefined;
    let type = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      return; // not one of the daemon's events
    }
    if (typeof parsed === 'object' && parsed !== null) {
      this.onEvent({ id, type, data: parsed as Record<string, unknown> });
    }
  }
}
