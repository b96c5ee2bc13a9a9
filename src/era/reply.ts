/**
 * The HTTP answer to one translated request on the pass-through face (2025-11-25 transports §Sending
 * Messages): plain JSON when the result is all there is, an SSE stream as soon as something must come
 * first (a progress or log notification, or a server→client request of an MRTR round). Pure stream
 * plumbing plus a keep-alive timer.
 *
 * A round can wait on a human for minutes: the stream gets a comment after every quiet `keepAliveMs`.
 * The client going away (the stream cancelled) cancels the request.
 */
import { formatSseEvent, KEEPALIVE_COMMENT } from '../mcp/sse.js';
import { SSE_RESPONSE_HEADERS } from '../proxy/headers.js';

type Json = Record<string, unknown>;

export interface ReplyChannel {
  /** Whether messages before the answer can reach the client at all (it accepts an event stream). */
  readonly canStream: boolean;
  /** A message before the answer (switches to SSE); false when the client cannot get it. */
  write(message: Json): boolean;
  /** The answer: the JSON body, or the last event of the stream. */
  finish(message: Json): void;
  /** No answer will come (cancelled): an empty stream that ends. */
  abandon(): void;
}

export interface ReplyOptions {
  acceptsSse: boolean;
  keepAliveMs: number;
  /** The client went away before the answer. */
  onCancel(): void;
}

const encoder = new TextEncoder();
const COMMENT = encoder.encode(KEEPALIVE_COMMENT);

export function createReply(options: ReplyOptions): { channel: ReplyChannel; response: Promise<Response> } {
  let resolve!: (response: Response) => void;
  const response = new Promise<Response>((r) => (resolve = r));
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let done = false;
  let lastWrite = Date.now();
  let timer: NodeJS.Timeout | undefined;

  const stop = () => {
    done = true;
    if (timer) clearInterval(timer);
  };

  const stream = () => {
    if (controller) return controller;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        if (done) return;
        stop();
        options.onCancel();
      },
    });
    timer = setInterval(() => {
      if (done || Date.now() - lastWrite < options.keepAliveMs) return;
      controller?.enqueue(COMMENT);
      lastWrite = Date.now();
    }, options.keepAliveMs);
    timer.unref();
    resolve(new Response(body, { status: 200, headers: { ...SSE_RESPONSE_HEADERS } }));
    return controller!;
  };

  const event = (message: Json) =>
    encoder.encode(formatSseEvent({ event: 'message', data: JSON.stringify(message) }));

  const channel: ReplyChannel = {
    canStream: options.acceptsSse,
    write(message) {
      if (done || !options.acceptsSse) return false;
      stream().enqueue(event(message));
      lastWrite = Date.now();
      return true;
    },
    finish(message) {
      if (done) return;
      if (!controller) {
        stop();
        resolve(
          new Response(JSON.stringify(message), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          }),
        );
        return;
      }
      controller.enqueue(event(message));
      stop();
      controller.close();
    },
    abandon() {
      if (done) return;
      const c = stream();
      stop();
      c.close();
    },
  };
  return { channel, response };
}
