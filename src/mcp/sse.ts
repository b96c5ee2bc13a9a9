/**
 * Server-Sent Events codec: frames we write, and a reader over an upstream's event stream
 * (eventsource-parser, WHATWG-conformant). Pure apart from reading the given stream.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export const KEEPALIVE_COMMENT = ': keepalive\n\n';

const encoder = new TextEncoder();

/** One SSE event. Multi-line data is split into several `data:` lines, as the spec requires. */
export function formatSseEvent(event: { event?: string; id?: string; data: string; retry?: number }): string {
  let out = '';
  if (event.event) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.retry !== undefined) out += `retry: ${event.retry}\n`;
  // Serialized JSON has no line breaks: one data line, no split (the relay hot path).
  if (!/[\r\n]/.test(event.data)) return `${out}data: ${event.data}\n\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

export function encodeSse(text: string): Uint8Array {
  return encoder.encode(text);
}

export interface SseReadHandlers {
  onEvent(event: EventSourceMessage): void;
  onRetry?(ms: number): void;
}

/**
 * Reads an event stream to its end, calling the handlers per event. Resolves when the stream ends;
 * rejects if reading fails (including the signal aborting the underlying fetch). Takes a web stream or
 * any async iterable of bytes (the undici dispatch body of src/proxy/dispatch.ts).
 */
export async function readSseStream(
  body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  handlers: SseReadHandlers,
): Promise<void> {
  if (!('getReader' in body)) {
    // Made at the first byte: an idle stream (a legacy session's upstream GET, most of its life) holds
    // neither the parser nor the decoder's native converter (~2 KiB together; bench/RESULTS.md).
    let reading:
      | { parser: ReturnType<typeof createParser>; decoder: InstanceType<typeof TextDecoder> }
      | undefined;
    for await (const chunk of body) {
      reading ??= {
        parser: createParser({ onEvent: handlers.onEvent, onRetry: handlers.onRetry }),
        decoder: new TextDecoder(),
      };
      reading.parser.feed(reading.decoder.decode(chunk, { stream: true }));
    }
    reading?.parser.feed(reading.decoder.decode());
    return;
  }
  const parser = createParser({
    onEvent: handlers.onEvent,
    onRetry: handlers.onRetry,
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
  } finally {
    reader.releaseLock();
  }
}

export type { EventSourceMessage };
