/**
 * Open client streams per token on this instance (issue 7 §9: "thousands of SSE opens from one token").
 * Pure counting.
 *
 * A stream is a legacy `GET /sse` or a pass-through `GET /mcp`: each holds a socket, a store row or an
 * upstream stream for as long as the client keeps it. Past `maxPerToken` open ones, the next is refused
 * (429) until one closes. Counts are per instance, like the rate limits.
 */

export interface StreamSlots {
  /** Takes a slot for the token, or undefined when it already holds `maxPerToken`. */
  acquire(tokenId: string, face: string): (() => void) | undefined;
  /** Open streams by face (metrics). */
  byFace(): Readonly<Record<string, number>>;
  /** Open streams of one token. */
  of(tokenId: string): number;
}

/**
 * @example
 * const release = slots.acquire(principal.tokenId, 'sse');
 * if (!release) return tooManyStreams();
 * res.once('close', release);
 */
export function createStreamSlots(maxPerToken: number): StreamSlots {
  const perToken = new Map<string, number>();
  const perFace: Record<string, number> = {};

  return {
    acquire(tokenId, face) {
      const held = perToken.get(tokenId) ?? 0;
      if (maxPerToken > 0 && held >= maxPerToken) return undefined;
      perToken.set(tokenId, held + 1);
      perFace[face] = (perFace[face] ?? 0) + 1;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (perToken.get(tokenId) ?? 1) - 1;
        if (left > 0) perToken.set(tokenId, left);
        else perToken.delete(tokenId);
        perFace[face] = (perFace[face] ?? 1) - 1;
      };
    },
    byFace() {
      return { ...perFace };
    },
    of(tokenId) {
      return perToken.get(tokenId) ?? 0;
    },
  };
}
