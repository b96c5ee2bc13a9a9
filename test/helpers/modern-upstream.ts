/**
 * An SDK v2 upstream that speaks 2026-07-28 only (`createMcpHandler(factory, { legacy: 'reject' })`,
 * spec2026.md §4), on loopback, for the era translation tests (issue 6). Stateless: no initialize, no
 * sessions, no GET; elicitation and sampling through MRTR; pushes through `subscriptions/listen`.
 *
 * Tools: `echo` (logs at info, then answers), `confirm` (elicitation), `summarize` (sampling), `where`
 * (roots), `regional` (a `region` argument annotated `x-mcp-header: Region`), `bump` (changes
 * `mem://counter` and publishes `resources/updated` for it). Resource: `mem://counter` (subscribable).
 * Every request is recorded.
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import {
  acceptedContent,
  createMcpHandler,
  inputRequired,
  inputResponse,
  type McpHttpHandler,
  McpServer,
} from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface SeenModernRequest {
  method: string;
  headers: Record<string, string>;
  body: { id?: unknown; method?: string; params?: Record<string, unknown> } | undefined;
}

export interface ModernUpstream {
  url: string;
  seen: SeenModernRequest[];
  /** Requests for one JSON-RPC method (and tool, for tools/call). */
  calls(method: string, tool?: string): SeenModernRequest[];
  /** Resolves with the first request (past or future) matching. */
  waitFor(match: (r: SeenModernRequest) => boolean): Promise<SeenModernRequest>;
  /** The counter behind `mem://counter`. */
  readonly counter: number;
  handler: McpHttpHandler;
  close(): Promise<void>;
}

export const COUNTER_URI = 'mem://counter';

/** `legacy: 'stateless'` makes it dual-era: the SDK's stateless 2025 leg answers initialize too. */
export async function startModernUpstream(
  options: { legacy?: 'reject' | 'stateless' } = {},
): Promise<ModernUpstream> {
  let counter = 1;
  let handler!: McpHttpHandler;

  const createServer = () => {
    const server = new McpServer(
      { name: 'modern-upstream', version: '2.0.0' },
      {
        capabilities: { logging: {}, resources: { subscribe: true, listChanged: true } },
        instructions: 'A 2026-07-28-only test upstream',
      },
    );
    server.registerTool(
      'echo',
      { description: 'Echoes the message', inputSchema: z.object({ message: z.string() }) },
      async ({ message }, ctx) => {
        await ctx.mcpReq.log('info', `echo called with ${message}`);
        return { content: [{ type: 'text', text: `echo: ${message}` }] };
      },
    );
    const confirmation = z.object({ ok: z.boolean() });
    server.registerTool(
      'confirm',
      {
        description: 'Asks the client to confirm (MRTR elicitation)',
        inputSchema: z.object({ env: z.string() }),
      },
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
        const state = ctx.mcpReq.requestState();
        return {
          content: [{ type: 'text', text: `confirmed=${answer.ok} env=${env} state=${String(state)}` }],
        };
      },
    );
    server.registerTool(
      'summarize',
      { description: 'Asks the client LLM (MRTR sampling)', inputSchema: z.object({ text: z.string() }) },
      async ({ text }, ctx) => {
        const answer = inputResponse(ctx.mcpReq.inputResponses, 'llm');
        if (answer.kind !== 'sampling') {
          return inputRequired({
            inputRequests: {
              llm: inputRequired.createMessage({
                messages: [{ role: 'user', content: { type: 'text', text: `Summarize: ${text}` } }],
                maxTokens: 50,
              }),
            },
          });
        }
        const content = answer.result.content as { type: string; text?: string };
        return { content: [{ type: 'text', text: `summary: ${content.text ?? '?'}` }] };
      },
    );
    server.registerTool(
      'where',
      { description: "Asks for the client's roots (MRTR roots/list)", inputSchema: z.object({}) },
      async (_args, ctx) => {
        const answer = inputResponse(ctx.mcpReq.inputResponses, 'roots');
        if (answer.kind !== 'roots')
          return inputRequired({ inputRequests: { roots: inputRequired.listRoots() } });
        return { content: [{ type: 'text', text: `roots: ${answer.roots.map((r) => r.uri).join(', ')}` }] };
      },
    );
    server.registerTool(
      'regional',
      {
        description: 'Routes by region, mirrored in Mcp-Param-Region',
        inputSchema: z.object({ region: z.string().meta({ 'x-mcp-header': 'Region' }), query: z.string() }),
      },
      async ({ region, query }) => ({ content: [{ type: 'text', text: `${region}: ${query}` }] }),
    );
    server.registerTool(
      'bump',
      { description: 'Changes mem://counter', inputSchema: z.object({}) },
      async () => {
        counter++;
        // After the answer, as a change made by someone else would arrive.
        setTimeout(() => handler.notify.resourceUpdated(COUNTER_URI), 5);
        return { content: [{ type: 'text', text: `counter=${counter}` }] };
      },
    );
    server.registerResource('counter', COUNTER_URI, { mimeType: 'text/plain' }, async (uri) => ({
      contents: [{ uri: uri.href, text: String(counter) }],
    }));
    return server;
  };

  handler = createMcpHandler(createServer, { legacy: options.legacy ?? 'reject' });
  const seen: SeenModernRequest[] = [];
  const waiters = new Set<{
    match: (r: SeenModernRequest) => boolean;
    resolve(r: SeenModernRequest): void;
  }>();
  const httpServer = await new Promise<ServerType>((resolve) => {
    const s = serve(
      {
        fetch: async (request: Request) => {
          const headers: Record<string, string> = {};
          request.headers.forEach((value, name) => {
            headers[name] = value;
          });
          const text = request.method === 'POST' ? await request.clone().text() : '';
          let body: SeenModernRequest['body'];
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {}
          const record = { method: request.method, headers, body };
          seen.push(record);
          for (const waiter of [...waiters]) {
            if (!waiter.match(record)) continue;
            waiters.delete(waiter);
            waiter.resolve(record);
          }
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
    calls: (method, tool) =>
      seen.filter((r) => r.body?.method === method && (tool === undefined || r.body?.params?.name === tool)),
    waitFor(match) {
      const past = seen.find(match);
      if (past) return Promise.resolve(past);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
    get counter() {
      return counter;
    },
    handler,
    async close() {
      await handler.close();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        if ('closeAllConnections' in httpServer) httpServer.closeAllConnections();
      });
    },
  };
}
