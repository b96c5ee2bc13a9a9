/**
 * A TCP relay on 127.0.0.1 (free port) in front of a real server, for failures a real server will not
 * produce on demand: `freeze` keeps live sockets open but lets no byte through (a half-open or
 * black-holed connection), `refuse` turns new connections away, `cut` drops the live ones. Does I/O.
 */
import { createServer, Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** The first bytes the client sent (a Postgres startup packet names the application). */
  opening: string;
  frozen: boolean;
}

export interface TcpProxy {
  port: number;
  /** Rewrites a postgres:// (or any) URL to go through the relay. */
  via(url: string): string;
  /**
   * Stops forwarding in both directions on the live connections whose opening bytes contain `marker`
   * (all of them without one); sockets stay open, bytes are dropped. Returns how many it froze.
   */
  freeze(marker?: string): number;
  /** New connections are closed at once while on. */
  refuse(on: boolean): void;
  /** Destroys every live connection. */
  cut(): void;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refusing = false;

  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const pair: Pair = { client, upstream: new Socket(), opening: '', frozen: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      pair.upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (pair.opening.length < 4096) pair.opening += chunk.toString('latin1');
      if (!pair.frozen) pair.upstream.write(chunk);
    });
    pair.upstream.on('data', (chunk: Buffer) => {
      if (!pair.frozen) client.write(chunk);
    });
    for (const socket of [client, pair.upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    pair.upstream.connect(target.port, target.host);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  const cut = () => {
    for (const pair of pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    pairs.clear();
  };

  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    freeze(marker) {
      let frozen = 0;
      for (const pair of pairs) {
        if (marker !== undefined && !pair.opening.includes(marker)) continue;
        pair.frozen = true;
        frozen++;
      }
      return frozen;
    },
    refuse(on) {
      refusing = on;
    },
    cut,
    get connections() {
      return pairs.size;
    },
    async close() {
      cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
