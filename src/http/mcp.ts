/**
 * The Streamable HTTP face: `POST | GET | DELETE /brains/:brain/mcp`, forwarded to the brain's upstream
 * by the pass-through (issue 3). Route wiring only; mounted after client auth, so `principal` and `brain`
 * are set.
 */
import type { Face } from '../app.js';
import { createTranslatingFace } from '../era/translating-face.js';
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

    const translating = createTranslatingFace(deps);

    app.on(['POST', 'GET', 'DELETE'], '/:brain/mcp', (c) => {
      const target = {
        principal: c.get('principal'),
        brain: c.get('brain'),
        observation: c.get('observation'),
      };
      // Era translation (issue 6) sees only 2025 openings and the sessions it issued; the rest passes.
      if (translating.claims(c.req.raw, target.brain)) {
        return translating.handle(c.req.raw, target, (request) => passthrough.handle(request, target));
      }
      return passthrough.handle(c.req.raw, target);
    });
    app.all('/:brain/mcp', () =>
      jsonRpcErrorResponse(405, JSONRPC.SERVER_ERROR, 'Method not allowed.', { headers: { allow: ALLOW } }),
    );
  };
}
