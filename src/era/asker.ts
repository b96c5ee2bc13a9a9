/**
 * Real server→client requests the gateway sends in the upstream's name (MRTR input requests made into
 * `elicitation/create`, `sampling/createMessage`, `roots/list`), and the client's answers to them.
 * In-process state only; the caller decides where requests are written and where answers come from.
 *
 * Ids are the gateway's own (`mcpgate-ask-…`) so they never collide with the client's; with a `tag` they
 * also name the instance that asked, so an answer posted to another instance finds its way back
 * (src/routing/translated-messages.ts). A request whose signal aborts is withdrawn with
 * `notifications/cancelled` (basic/utilities/cancellation): the client stops asking its user, and a late
 * answer finds nothing waiting.
 */
import { randomBytes } from 'node:crypto';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { AskError } from './translate.js';
import type { JsonRpcError } from './upstream-call.js';

type Json = Record<string, unknown>;

export interface Asker {
  ask(method: string, params: unknown, signal: AbortSignal): Promise<Json>;
  /** Takes a client's response (its JSON text); false when nothing here waits for that id. */
  answer(id: JsonRpcId, body: string): boolean;
  /** Whether a request with this id is waiting here. */
  has(id: JsonRpcId): boolean;
  /** Fails everything still waiting (the session ended); sends nothing. */
  close(): void;
}

export interface AskerOptions {
  /** Writes one message to the client. */
  send(message: Json): void;
  /** The session's signal: nothing is asked after it aborts. */
  signal?: AbortSignal;
  /** This instance's tag (16 hex digits), when answers may reach another instance first. */
  tag?: string;
}

interface Pending {
  resolve(result: Json): void;
  reject(err: unknown): void;
}

/** `mcpgate-ask-[<tag>-]<random>-<n>`: unique across askers and instances. */
const prefix = (tag: string | undefined) =>
  `mcpgate-ask-${tag === undefined ? '' : `${tag}-`}${randomBytes(6).toString('hex')}-`;
const TAGGED = /^mcpgate-ask-([0-9a-f]{16})-[0-9a-f]{12}-\d+$/;

/** The tag of the instance that asked the request with this id; undefined for any other id. */
export function tagOfAskId(id: unknown): string | undefined {
  return typeof id === 'string' ? TAGGED.exec(id)?.[1] : undefined;
}

export function createAsker(options: AskerOptions): Asker {
  const pending = new Map<string, Pending>();
  const base = prefix(options.tag);
  let next = 0;

  return {
    ask(method, params, signal) {
      if (signal.aborted || options.signal?.aborted)
        return Promise.reject(signal.reason ?? new Error('aborted'));
      const id = `${base}${++next}`;
      return new Promise<Json>((resolve, reject) => {
        const onAbort = () => {
          if (!pending.delete(id)) return;
          options.send({
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: id, reason: 'The request that needed this input was cancelled' },
          });
          reject(signal.reason ?? new Error('aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        pending.set(id, {
          resolve: (result) => {
            signal.removeEventListener('abort', onAbort);
            resolve(result);
          },
          reject: (err) => {
            signal.removeEventListener('abort', onAbort);
            reject(err);
          },
        });
        options.send({ jsonrpc: '2.0', id, method, params });
      });
    },
    answer(id, body) {
      const key = typeof id === 'string' ? id : String(id);
      const waiting = pending.get(key);
      if (!waiting) return false;
      pending.delete(key);
      let message: { result?: unknown; error?: JsonRpcError };
      try {
        message = JSON.parse(body) as typeof message;
      } catch {
        waiting.reject(new AskError({ code: -32700, message: 'The client answered with invalid JSON' }));
        return true;
      }
      if (message.error) {
        const { code, message: text } = message.error;
        waiting.reject(new AskError({ code, message: `The client could not answer: ${text}` }));
      } else {
        waiting.resolve((message.result ?? {}) as Json);
      }
      return true;
    },
    has(id) {
      return pending.has(String(id));
    },
    close() {
      for (const waiting of pending.values()) waiting.reject(new Error('session closed'));
      pending.clear();
    },
  };
}
