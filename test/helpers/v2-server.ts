/**
 * An SDK v2 (`@modelcontextprotocol/server`) upstream serving the 2026-07-28 revision only
 * (`createMcpHandler(factory, { legacy: 'reject' })`, spec2026.md §4), on loopback. Stateless: no
 * sessions, POST only; elicitation happens through MRTR (`input_required`, spec2026.md §1.5).
 *
 * Tools: `echo` (logs, then answers) and `confirm` (asks the client to confirm through an embedded
 * elicitation, then answers with what it got and the echoed requestState).
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { acceptedContent, createMcpHandler, inputRequired, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface V2Server {
  url: string;
  /** Every request the upstream saw: method and the headers a 2026 request carries. */
  seen: Array<{ method: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

function createServer(): McpServer {
  const server = new McpServer({ name: 'v2-upstream', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool(
    'echo',
    { description: 'Echoes the message', inputSchema: z.object({ message: z.string() }) },
    async ({ message }) => ({ content: [{ type: 'text', text: `echo: ${message}` }] }),
  );
  const confirmation = z.object({ ok: z.boolean() });
  server.registerTool(
    'confirm',
    { description: 'Asks the client to confirm, via MRTR', inputSchema: z.object({ env: z.string() }) },
    async ({ env }, ctx) => {
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'ok', confirmation);
      if (answer === undefined) {
        return inputRequired({
          inputRequests: {
            ok: inputRequired.elicit({ message: `Deploy to ${env}?`, requestedSchema: confirmation }),
          },
          requestState: `phase1:${env}`,
        });
      }
      return { content: [{ type: 'text', text: `confirmed=${answer.ok} env=${env}` }] };
    },
  );
  return server;
}

export async function startV2Server(): Promise<V2Server> {
  const handler = createMcpHandler(() => createServer(), { legacy: 'reject' });
  const seen: V2Server['seen'] = [];
  const httpServer = await new Promise<ServerType>((resolve) => {
    const s = serve(
      {
        fetch: (request: Request) => {
          const headers: Record<string, string> = {};
          request.headers.forEach((value, name) => {
            headers[name] = value;
          });
          seen.push({ method: request.method, headers });
          return handler.fetch(request);
        },
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s),
    );
  });
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    async close() {
      await handler.close();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        if ('closeAllConnections' in httpServer) httpServer.closeAllConnections();
      });
    },
  };
}
