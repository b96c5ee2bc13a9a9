/**
 * The legacy face (2024-11-05 HTTP+SSE, DESIGN.md §2): `GET /brains/:brain/sse` opens the client's
 * stream, `POST /brains/:brain/messages?sessionId=` takes its messages. Both run after client auth.
 * I/O: the client's socket, the store, the upstream (through the bridge).
 *
 * The stream is written on the Node response (see src/bridge/client-stream.ts for why), so the route
 * answers with @hono/node-server's RESPONSE_ALREADY_SENT.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Face } from '../app.js';
import {
  type ClientMessage,
  parseClientMessages,
  readClientMessages,
  tooLarge,
} from '../bridge/client-messages.js';
import { type LegacySession, openLegacySession } from '../bridge/legacy-session.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { JSONRPC, jsonRpcErrorResponse, sessionNotFoundResponse } from '../mcp/jsonrpc.js';

export interface LegacyFaceOptions {
  /** Outgoing bytes a client may leave unread before it is disconnected (issue 4 §5). */
  maxBufferedBytes?: number;
  /** `retry:` for the client's EventSource: how soon it reconnects after a drop. */
  retryMs?: number;
}

const BODY_ERROR_CODES: Partial<Record<string, number>> = {
  ERR_PARSE: JSONRPC.PARSE_ERROR,
  ERR_INVALID_MESSAGE: JSONRPC.INVALID_REQUEST,
  ERR_PAYLOAD_TOO_LARGE: JSONRPC.SERVER_ERROR,
};

/**
 * The body of a small POST is usually all in Node's buffer by the time auth has run: read it there at
 * once instead of through the web stream's ticks (tens of µs on every message). Undefined when it is not
 * all there yet, or something else has started reading it.
 */
function bufferedBody(incoming: IncomingMessage | undefined, maxBytes: number): string | undefined {
  if (!incoming?.complete || incoming.readableFlowing || incoming.readableDidRead) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for (
    let chunk = incoming.read() as Buffer | null;
    chunk !== null;
    chunk = incoming.read() as Buffer | null
  ) {
    chunks.push(chunk);
    size += chunk.length;
  }
  if (size > maxBytes) throw tooLarge(maxBytes);
  return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
}

async function readMessages(
  c: { env: unknown; req: { raw: Request } },
  maxBytes: number,
): Promise<ClientMessage[]> {
  const buffered = bufferedBody((c.env as { incoming?: IncomingMessage } | undefined)?.incoming, maxBytes);
  return buffered === undefined ? readClientMessages(c.req.raw, maxBytes) : parseClientMessages(buffered);
}

/**
 * @example
 * const gateway = await startGateway({ config, logger, faces: [createLegacyFace()] });
 */
export function createLegacyFace(options: LegacyFaceOptions = {}): Face {
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  const retryMs = options.retryMs ?? 1_000;

  return function legacyFace(app, deps) {
    // Routing table for POSTs; the shared registry (deps.sessions) handles push, revocation, keep-alive.
    const sessions = new Map<string, LegacySession>();
    deps.lifecycle.onShutdown(async () => {
      await Promise.allSettled([...sessions.values()].map((s) => s.close('shutting down')));
    });

    app.get('/:brain/sse', async (c) => {
      if (deps.lifecycle.draining) {
        return jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, 'Service unavailable: shutting down', {
          headers: { 'retry-after': '2' },
        });
      }
      const res = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (!res) throw new GatewayError('ERR_INTERNAL', 'the legacy face needs the Node HTTP adapter');
      let session: LegacySession;
      try {
        session = await openLegacySession({
          deps,
          principal: c.get('principal'),
          brain: c.get('brain'),
          res,
          maxBufferedBytes,
          retryMs,
          onClosed: (s) => sessions.delete(s.id),
        });
      } catch (err) {
        if (isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) {
          return jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, 'Service unavailable: store not reachable', {
            headers: { 'retry-after': '2' },
          });
        }
        throw err;
      }
      sessions.set(session.id, session);
      return RESPONSE_ALREADY_SENT;
    });

    app.post('/:brain/messages', async (c) => {
      const id = c.req.query('sessionId');
      if (!id) {
        return jsonRpcErrorResponse(
          400,
          JSONRPC.SERVER_ERROR,
          'Bad Request: sessionId query parameter is required',
        );
      }
      const session = sessions.get(id);
      // Unknown and someone else's look the same: no oracle for live session ids (DESIGN.md §3).
      if (!session || session.tokenId !== c.get('principal').tokenId || session.brain !== c.get('brain').id) {
        return sessionNotFoundResponse();
      }
      let messages: ClientMessage[];
      try {
        messages = await readMessages(c, deps.config.maxBodyBytes);
      } catch (err) {
        const code = err instanceof GatewayError ? BODY_ERROR_CODES[err.code] : undefined;
        if (code === undefined) throw err;
        return jsonRpcErrorResponse((err as GatewayError).status, code, (err as GatewayError).message);
      }
      session.accept(messages, c.req.header('mcp-protocol-version'));
      // A bare Response (no Headers object) takes @hono/node-server's cheapest write path.
      return new Response('Accepted', { status: 202 });
    });
  };
}
