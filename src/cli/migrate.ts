/**
 * `mcpgate migrate`: applies pending `migrations/NNNN_*.sql` to DATABASE_URL under the store's advisory lock
 * (DESIGN.md §4; Fly runs it as the `release_command`, once per deploy, before Machines are replaced).
 * I/O: Postgres, and one line per result on the given streams.
 *
 * Behind PgBouncer in transaction mode advisory locks are not session-scoped (research/deploy.md §1.6), so
 * point DATABASE_URL at the direct (unpooled) URL for the release command.
 */
import { parseConfig } from '../config.js';
import { createLogger } from '../log.js';
import { runMigrations } from '../store/migrate.js';

function decodeOrKeep(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface MigrateIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
}

/**
 * Returns the exit code: 0 when the schema is current (printing what was applied), 1 with a one-line
 * `mcpgate: …` message otherwise. The database password never appears in a message.
 *
 * @example process.exitCode = await migrateCommand(process.env);
 */
export async function migrateCommand(
  env: Record<string, string | undefined>,
  io: MigrateIo = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const secrets: string[] = [];
  try {
    const config = parseConfig(env);
    if (!config.databaseUrl) {
      throw new Error('DATABASE_URL is not set: migrate applies the schema to Postgres (postgres://…)');
    }
    const { password } = new URL(config.databaseUrl);
    if (password) secrets.push(password, decodeOrKeep(password));
    // Warnings only (an applied file edited since, …) as JSON lines on err; what was applied goes to out.
    const logger = createLogger({
      level: 'warn',
      destination: { write: (line: string) => void io.err.write(line) },
    });
    const applied = await runMigrations({ url: config.databaseUrl, logger });
    io.out.write(
      applied.length === 0
        ? 'database schema is up to date\n'
        : `applied ${applied.length} migration(s):\n${applied.map((name) => `  ${name}\n`).join('')}`,
    );
    return 0;
  } catch (err) {
    let message = (err instanceof Error ? err.message : String(err)).replace(/\s*[\r\n]+\s*/g, ' ');
    for (const secret of secrets) message = message.replaceAll(secret, '[redacted]');
    io.err.write(`mcpgate: migrate failed: ${message}\n`);
    return 1;
  }
}
