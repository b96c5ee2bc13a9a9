/**
 * `Mcp-Param-*` headers (SEP-2243, spec2026.md §1.2): a client MUST mirror every tool argument whose
 * `inputSchema` property carries `x-mcp-header`, or a modern upstream rejects the call with `-32020`.
 * Legacy clients know nothing of it, so the gateway reads the annotations from a cached `tools/list` per
 * brain and adds the headers itself. Pure scanning; the catalog does I/O through the given lister.
 */
import { headerValue } from './wire.js';

export interface ParamHeaderDeclaration {
  /** Property names from the root of `arguments` down to the annotated primitive. */
  path: string[];
  /** The `x-mcp-header` value: the header is `Mcp-Param-<header>`. */
  header: string;
}

const X_MCP_HEADER = 'x-mcp-header';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

type Schema = Record<string, unknown>;
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The declarations of one tool, found along chains of `properties` only: the spec allows the annotation
 * nowhere else, and a conforming client skips a tool whose annotations are invalid (the upstream then
 * never expects headers the gateway could not have known how to send).
 */
export function paramHeaderDeclarations(inputSchema: unknown): ParamHeaderDeclaration[] {
  const found: ParamHeaderDeclaration[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (!isObject(node)) return;
    const header = node[X_MCP_HEADER];
    if (path.length > 0 && typeof header === 'string' && TOKEN.test(header)) found.push({ path, header });
    const properties = node.properties;
    if (!isObject(properties)) return;
    for (const [key, child] of Object.entries(properties)) visit(child, [...path, key]);
  };
  visit(inputSchema, []);
  return found;
}

function primitive(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** The headers for one call: one per declaration whose argument is present (absent/null ⇒ no header). */
export function paramHeaders(
  declarations: readonly ParamHeaderDeclaration[],
  args: unknown,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { path, header } of declarations) {
    let node: unknown = args;
    for (const key of path) node = isObject(node) ? node[key] : undefined;
    const value = primitive(node);
    if (value !== undefined) out[`mcp-param-${header.toLowerCase()}`] = headerValue(value);
  }
  return out;
}

export interface ToolCatalog {
  /** The declarations of a tool; lists the tools again when the tool is unknown or the list stale. */
  declarationsFor(tool: string): Promise<readonly ParamHeaderDeclaration[]>;
  /** Takes tools seen on the way (a client's own tools/list). */
  absorb(tools: unknown): void;
  /** Forgets everything: tools list_changed, or the upstream refused our headers (-32020). */
  invalidate(): void;
}

export interface ToolCatalogOptions {
  /** Lists every tool (all pages) from the upstream. */
  list(): Promise<unknown[]>;
  ttlMs?: number;
  now?: () => number;
}

/** @example const catalog = createToolCatalog({ list: () => listAllTools(upstream, client) }); */
export function createToolCatalog(options: ToolCatalogOptions): ToolCatalog {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let tools = new Map<string, ParamHeaderDeclaration[]>();
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<void> | undefined;

  const absorb = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const tool of list) {
      if (isObject(tool) && typeof tool.name === 'string') {
        tools.set(tool.name, paramHeaderDeclarations(tool.inputSchema));
      }
    }
  };

  const refresh = () => {
    refreshing ??= (async () => {
      try {
        const listed = await options.list();
        tools = new Map();
        absorb(listed);
        fetchedAt = now();
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  return {
    async declarationsFor(tool) {
      const fresh = now() - fetchedAt < ttlMs;
      if (!fresh || !tools.has(tool)) await refresh();
      return tools.get(tool) ?? [];
    },
    absorb,
    invalidate() {
      fetchedAt = Number.NEGATIVE_INFINITY;
    },
  };
}
