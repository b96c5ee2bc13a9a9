/**
 * A small stand-in for Fly's proxy (research/deploy.md §1.1): round-robin like ./round-robin-proxy.ts,
 * and a response carrying `fly-replay: instance=<machine id>` is not relayed — the original request
 * (method, headers, body) is re-delivered to that Machine with `fly-replay-src`. If that Machine is
 * unknown or refuses the connection, the request goes back to any Machine with `fly-replay-failed`
 * (`fallback=prefer_self`). Replays are counted. I/O: a loopback listener and the targets.
 */
import { type ProxyTarget, type RoundRobinProxy, startRoundRobinProxy } from './round-robin-proxy.js';

export interface FlyProxy extends RoundRobinProxy {
  replays: Array<{ from: string; to: string; ok: boolean }>;
}

const field = (header: string, name: string) =>
  header
    .split(';')
    .map((part) => part.trim().split('='))
    .find(([key]) => key === name)?.[1];

export async function startFlyProxy(targets: ProxyTarget[]): Promise<FlyProxy> {
  const replays: FlyProxy['replays'] = [];
  let current = targets;
  const proxy = await startRoundRobinProxy({
    targets,
    async onResponse(req, sent, send) {
      const header = sent.res.headers['fly-replay'];
      if (typeof header !== 'string') return sent;
      sent.res.resume();
      const machine = field(header, 'instance');
      const from = sent.target.machineId ?? '?';
      const target = current.find((t) => t.machineId === machine);
      if (target) {
        const headers = {
          ...req.headers,
          'fly-replay-src': `instance=${from};region=test;t=${Date.now() * 1000}`,
        };
        try {
          const res = await send(target, { ...req, headers });
          replays.push({ from, to: machine!, ok: true });
          return { target, res };
        } catch {}
      }
      replays.push({ from, to: machine ?? '?', ok: false });
      const fallback = current.find((t) => t !== target) ?? sent.target;
      const headers = {
        ...req.headers,
        'fly-replay-failed': `instance=${machine};region=test;replay_source=${from};reason=no_candidate`,
      };
      return { target: fallback, res: await send(fallback, { ...req, headers }) };
    },
  });
  return {
    ...proxy,
    replays,
    setTargets(next) {
      current = next;
      proxy.setTargets(next);
    },
  };
}
