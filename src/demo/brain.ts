/**
 * The demo brain for `mcpgate serve --demo`: a small stateful Streamable HTTP MCP server (SDK v1) on
 * loopback, so a fresh clone has something real behind the gateway. Does I/O (listens on 127.0.0.1).
 *
 * Tools: echo, add, count (reports progress), start-logging (periodic log pushes on the GET stream).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { z } from 'zod';

export interface DemoBrain {
  url: string;
  close(): Promise<void>;
}

function createDemoServer(onClose: (stop: () => void) => void): McpServer {
  const server = new McpServer({ name: 'mcpgate-demo', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool(
    'echo',
    { description: 'Echoes the message back', inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: 'text', text: `Echo: ${message}` }] }),
  );
  server.registerTool(
    'add',
    { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  server.registerTool(
    'count',
    {
      description: 'Counts to `steps`, reporting progress every `intervalMs`',
      inputSchema: {
        steps: z.number().int().min(1).max(100).default(5),
        intervalMs: z.number().int().min(0).max(5000).default(100),
      },
    },
    async ({ steps, intervalMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        await new Promise((r) => setTimeout(r, intervalMs));
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: i, total: steps, message: `step ${i}` },
          });
        }
      }
      return { content: [{ type: 'text', text: `counted to ${steps}` }] };
    },
  );
  server.registerTool(
    'start-logging',
    {
      description: 'Starts periodic log notifications (not tied to a request: they arrive on the GET stream)',
      inputSchema: { intervalMs: z.number().int().min(50).max(60_000).default(2000) },
    },
    async ({ intervalMs }) => {
      let n = 0;
      const timer = setInterval(() => {
        n += 1;
        server
          .sendLoggingMessage({ level: 'info', logger: 'demo', data: `tick ${n}` })
          .catch(() => clearInterval(timer));
      }, intervalMs);
      timer.unref();
      onClose(() => clearInterval(timer));
      return { content: [{ type: 'text', text: `logging every ${intervalMs} ms` }] };
    },
  );
  return server;
}

export async function startDemoBrain(): Promise<DemoBrain> {
  const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const app = new Hono();
  app.all('/mcp', async (c) => {
    const sessionId = c.req.header('mcp-session-id');
    const existing = sessionId ? transports.get(sessionId) : undefined;
    if (existing) return existing.handleRequest(c.req.raw);
    if (sessionId) {
      return c.json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, 404);
    }
    const stops: Array<() => void> = [];
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        transports.set(id, transport);
      },
      onsessionclosed: (id) => {
        transports.delete(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
      for (const stop of stops) stop();
    };
    const server = createDemoServer((stop) => stops.push(stop));
    await server.connect(transport);
    return transport.handleRequest(c.req.raw);
  });

  const httpServer = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {});
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        if ('closeAllConnections' in httpServer) httpServer.closeAllConnections();
      });
    },
  };
}
