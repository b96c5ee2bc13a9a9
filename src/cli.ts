#!/usr/bin/env node
/**
 * The `mcpgate` command: `serve [--demo]`, `migrate`, and admin verbs (a thin client of the admin API).
 * Errors print one line and exit non-zero.
 */
import { runAdminCommand } from './cli/admin.js';
import { isGatewayError } from './errors.js';

const USAGE = `usage: mcpgate <command>
  serve [--demo]                 run the gateway (--demo: embedded store, demo brain, printed tokens)
  migrate                        apply pending database migrations (DATABASE_URL)
  orgs create <slug> [--name N] | orgs list
  brains list <org>
  brains create <org> <id> --url URL [--header 'Name: value']... [--connect-timeout-ms N] [--first-byte-timeout-ms N]
  brains update <id> [--url URL] [--header 'Name: value']... [--clear-headers] | brains delete <id>
                                 (create and update take --era auto|2025|2026: the upstream's MCP era)
  tokens create <org> [--name N] [--brain ID]... [--expires-in SECONDS] | tokens revoke <id>
  admin verbs read MCPGATE_URL and MCPGATE_ADMIN_TOKEN; add --json for machine-readable output`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { serveCommand } = await import('./serve.js');
      await serveCommand({ demo: rest.includes('--demo') });
      return -1; // keeps running
    }
    case 'migrate': {
      const { migrateCommand } = await import('./cli/migrate.js');
      return migrateCommand(process.env);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      return runAdminCommand(argv, process.env, { out: process.stdout, err: process.stderr, fetch });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const message = isGatewayError(err) || err instanceof Error ? err.message : String(err);
    process.stderr.write(`mcpgate: ${message.split('\n')[0]}\n`);
    process.exit(1);
  },
);
