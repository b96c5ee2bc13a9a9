/**
 * How deep a parsed JSON value nests. Pure.
 *
 * `JSON.parse` takes any depth, but what recurses over the result afterwards does not: `JSON.stringify`,
 * `structuredClone`, zod, the Postgres driver. A value nested tens of thousands of levels deep (a few
 * hundred KiB of `[[[[…`) overflows their stacks, which is an internal error (500) where the client sent a
 * bad request (issue 7 §9). Paths that recurse over client JSON check it first with this, which walks
 * iteratively and never recurses itself.
 */

/** Deep enough for any real MCP message; shallow enough for every recursive library we use. */
export const MAX_JSON_DEPTH = 256;

/**
 * @example
 * if (nestsDeeperThan(JSON.parse(text), MAX_JSON_DEPTH)) throw new GatewayError('ERR_INVALID_MESSAGE', '…');
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > max) return true;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
