// The benchmark's load generator: raw HTTP/1.1 keep-alive through an undici Pool (not the SDK), so the
// cost measured is the hop under test and not client-side MCP machinery. Pure measurement, no output.
import { Pool } from 'undici';

/** Body and headers of one tools/call, as a Streamable HTTP client sends it. */
function request(path, token, id) {
  return {
    path,
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
    },
    body: `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`,
  };
}

async function once(pool, path, token, id) {
  const { statusCode, body } = await pool.request(request(path, token, id));
  await body.text();
  if (statusCode !== 200) throw new Error(`unexpected status ${statusCode} from ${path}`);
}

export const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * `clients` concurrent loops, each one request at a time over its own keep-alive connection, for
 * `seconds` after a `warmupSeconds` warm-up. Returns requests/s and latency percentiles in ms.
 * `onMeasure` is called when measuring starts and returns a function called when it stops (CPU probes).
 */
export async function drive({ url, token, clients, seconds, warmupSeconds = 1, onMeasure }) {
  const { origin, pathname } = new URL(url);
  const pool = new Pool(origin, { connections: clients, pipelining: 1, keepAliveTimeout: 60_000 });
  let id = 0;
  const run = async (untilMs, samples) => {
    const loops = Array.from({ length: clients }, async () => {
      while (performance.now() < untilMs) {
        const started = performance.now();
        await once(pool, pathname, token, ++id);
        samples?.push(performance.now() - started);
      }
    });
    await Promise.all(loops);
  };
  try {
    await run(performance.now() + warmupSeconds * 1000);
    const samples = [];
    const stop = onMeasure?.();
    const started = performance.now();
    await run(started + seconds * 1000, samples);
    const elapsed = (performance.now() - started) / 1000;
    stop?.(samples.length);
    samples.sort((a, b) => a - b);
    return {
      requests: samples.length,
      rps: samples.length / elapsed,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      samples,
    };
  } finally {
    await pool.close();
  }
}
