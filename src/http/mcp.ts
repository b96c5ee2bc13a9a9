/**
 * The Streamable HTTP face: `POST | GET | DELETE /brains/:brain/mcp`, forwarded to the brain's upstream
 * by the pass-through (issue 3). Route wiring only; mounted after client auth, so `principal` and `brain`
 * are set.
 */
import type { Face } from '../app.js';
import { JSONRPC, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';
import { createLiveStreams } from '../proxy/live-streams.js';
import { createPassthrough } from '../proxy/passthrough.js';
import { createSessionBindings } from '../sessions/passthrough-binding.js';

/** The methods Streamable HTTP defines (2025-11-25 transports); the upstream decides which it serves. */
const ALLOW = 'GET, POST, DELETE';

export function createMcpFace(): Face {
  return function mcpFace(app, deps) {
    const passthrough = createPassthrough({
      deps,
      bindings: createSessionBindings({
        store: deps.store,
        bus: deps.bus,
        instanceId: deps.instanceId,
        logger: deps.logger,
      }),
      streams: createLiveStreams({ bus: deps.bus, lifecycle: deps.lifecycle }),
    });

    app.on(['POST', 'GET', 'DELETE'], '/:brain/mcp', (c) =>
      passthrough.handle(c.req.raw, { principal: c.get('principal'), brain: c.get('brain') }),
    );
    app.all('/:brain/mcp', () =>
      jsonRpcErrorResponse(405, JSONRPC.SERVER_ERROR, 'Method not allowed.', { headers: { allow: ALLOW } }),
    );
  };
}
