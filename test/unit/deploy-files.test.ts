/**
 * The Dockerfile and fly.toml keep the properties DESIGN.md §8 asks for (research/deploy.md §1.4 explains
 * each). Read as text with tiny hand-rolled parsers: no Docker daemon or TOML library needed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';

const root = process.cwd();

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile → stages of instructions (comments dropped, `\` continuations joined). */
function dockerStages(text: string): Instruction[][] {
  const lines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Instruction[][] = [];
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { op: op.toUpperCase(), args };
    if (instruction.op === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

/** `ENV A=b C=d` and the legacy `ENV A b` form. */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.filter((i) => i.op === 'ENV')) {
    if (!args.includes('=')) {
      const [key = '', ...rest] = args.split(/\s+/);
      env[key] = rest.join(' ');
      continue;
    }
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env[m[1]!] = m[3] ?? m[2]!;
  }
  return env;
}

/** A TOML subset: `[table]`, `[[array.table]]`, `key = "string" | number | bool`. Keys → dotted paths. */
function parseToml(text: string): Map<string, string | number | boolean> {
  const values = new Map<string, string | number | boolean>();
  const counts = new Map<string, number>();
  let prefix = '';
  for (const raw of text.split('\n')) {
    const line = raw
      .replace(/\s+#.*$/, '')
      .replace(/^#.*$/, '')
      .trim();
    if (!line) continue;
    const arrayTable = /^\[\[([^\]]+)\]\]$/.exec(line);
    const table = /^\[([^\]]+)\]$/.exec(line);
    if (arrayTable) {
      const name = arrayTable[1]!.trim();
      const index = counts.get(name) ?? 0;
      counts.set(name, index + 1);
      prefix = `${name}[${index}].`;
    } else if (table) {
      prefix = `${table[1]!.trim()}.`;
    } else {
      const [, key = '', value = ''] = /^([A-Za-z0-9_.-]+)\s*=\s*(.+)$/.exec(line) ?? [];
      if (!key) throw new Error(`unparsed TOML line: ${line}`);
      const parsed = /^".*"$/.test(value)
        ? value.slice(1, -1)
        : value === 'true' || value === 'false'
          ? value === 'true'
          : Number(value);
      values.set(prefix + key, parsed);
    }
  }
  return values;
}

const stages = dockerStages(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const final = stages.at(-1)!;
const fly = parseToml(readFileSync(join(root, 'fly.toml'), 'utf8'));
const runs = (stage: Instruction[]) => stage.filter((i) => i.op === 'RUN').map((i) => i.args);

describe('Dockerfile', () => {
  it('is multi-stage: a build stage compiles, the final stage is Node 22 LTS or newer', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runs(stages[0]!).join('\n')).toMatch(/npm ci\b[\s\S]*npm run build/);
    const image = /^(?:--\S+\s+)*node:(\d+)/.exec(final[0]!.args);
    expect(image, `final FROM ${final[0]!.args}`).not.toBeNull();
    expect(Number(image![1])).toBeGreaterThanOrEqual(22);
    expect(Number(image![1]) % 2, 'even Node majors are the LTS lines').toBe(0);
  });

  it('installs production dependencies only in the final stage and ships dist/ and migrations/', () => {
    const installs = runs(final).filter((r) => /npm (ci|install)\b/.test(r));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) expect(install).toMatch(/--omit=dev|--production\b/);
    expect(envOf(final).NODE_ENV).toBe('production');
    const copies = final.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.some((c) => /--from=\S+\s+\S*dist\b/.test(c))).toBe(true);
    expect(copies.some((c) => /\bmigrations\b/.test(c))).toBe(true);
  });

  it('runs as a non-root user, listening on :: and the port fly.toml routes to', () => {
    const users = final.filter((i) => i.op === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
    // The process must start as that user: USER comes before CMD.
    expect(final.findLastIndex((i) => i.op === 'USER')).toBeLessThan(
      final.findLastIndex((i) => i.op === 'CMD'),
    );
    expect(envOf(final).HOST).toBe('::');
    expect(envOf(final).PORT).toBe(String(fly.get('http_service.internal_port')));
    expect(final.find((i) => i.op === 'EXPOSE')?.args).toBe(String(fly.get('http_service.internal_port')));
  });

  it('starts `serve`, and puts the mcpgate bin on PATH for `mcpgate …` commands', () => {
    const cmd = JSON.parse(final.findLast((i) => i.op === 'CMD')!.args) as string[];
    expect(cmd.at(-1)).toBe('serve');
    const usesBin = cmd[0] === 'mcpgate' || String(fly.get('deploy.release_command')).startsWith('mcpgate ');
    if (usesBin)
      expect(runs(final).join('\n')).toMatch(/ln -s\S*\s+\S*dist\/cli\.js\s+\/usr\/(local\/)?bin\/mcpgate/);
    if (usesBin) expect(runs(final).join('\n')).toMatch(/chmod \+x \S*dist\/cli\.js/);
  });
});

describe('fly.toml', () => {
  it('keeps Machines up for long-lived streams', () => {
    expect(fly.get('http_service.auto_stop_machines')).toBe('off');
    expect(Number(fly.get('http_service.min_machines_running'))).toBeGreaterThanOrEqual(2);
  });

  it('sizes concurrency by requests with a high soft limit below the hard limit', () => {
    expect(fly.get('http_service.concurrency.type')).toBe('requests');
    const soft = Number(fly.get('http_service.concurrency.soft_limit'));
    expect(soft).toBeGreaterThanOrEqual(100);
    const hard = fly.get('http_service.concurrency.hard_limit');
    if (hard !== undefined) expect(Number(hard)).toBeGreaterThan(soft);
    expect(Number(fly.get('http_service.http_options.idle_timeout'))).toBeGreaterThanOrEqual(60);
  });

  it('checks /healthz', () => {
    const paths = [...fly].filter(([k]) => /^http_service\.checks\[\d+\]\.path$/.test(k)).map(([, v]) => v);
    expect(paths).toContain('/healthz');
  });

  it('stops with SIGTERM and waits longer than serve drains (drain timeout + 5 s hard stop)', () => {
    expect(fly.get('kill_signal')).toBe('SIGTERM');
    const drainMs = Number(fly.get('env.MCPGATE_DRAIN_TIMEOUT_MS') ?? parseConfig({}).drainTimeoutMs);
    expect(Number(fly.get('kill_timeout'))).toBeGreaterThanOrEqual(25);
    expect(Number(fly.get('kill_timeout'))).toBeGreaterThanOrEqual(drainMs / 1000 + 5);
  });

  it('migrates as the release command and listens on :: at the routed port', () => {
    expect(fly.get('deploy.release_command')).toMatch(/^(mcpgate|node dist\/cli\.js) migrate$/);
    expect(fly.get('env.HOST')).toBe('::');
    expect(fly.get('env.PORT')).toBe(String(fly.get('http_service.internal_port')));
  });
});
