/**
 * The MCP faces mounted under `/brains/:brain` (after client auth). Pure list.
 */
import type { Face } from './app.js';
import { createMcpFace } from './http/mcp.js';
import { createLegacyFace } from './http/sse.js';

export const faces: Face[] = [createMcpFace(), createLegacyFace()];
