/**
 * vitest globalSetup: finds one Postgres for the whole run and migrates a template database that each
 * test file clones (test/helpers/postgres.ts). Does I/O: may start a throwaway cluster, and stops it at
 * teardown.
 *
 * Without Postgres the Postgres suites are skipped and the run says so loudly; under `CI=true` the run
 * fails instead, so CI can never pass without them (DESIGN.md §6).
 */
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { dropRunDatabases, findPostgres, prepareTemplate, SKIP_BANNER } from './postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await findPostgres();
  if (!server) {
    if (/^(true|1)$/i.test(process.env.CI ?? '')) {
      throw new Error(
        'CI=true but no Postgres: set TEST_DATABASE_URL or install PostgreSQL (initdb, pg_ctl)',
      );
    }
    const rule = '!'.repeat(SKIP_BANNER.length);
    const banner = () => console.warn(`\n${rule}\n${SKIP_BANNER}\n${rule}\n`);
    banner();
    project.provide('postgres', null);
    // Said again at teardown, so that it is not lost above the test output.
    return async () => banner();
  }
  try {
    const context = await prepareTemplate(server, randomBytes(4).toString('hex'));
    console.info(`Postgres for tests: ${server.source}`);
    project.provide('postgres', context);
    return async () => {
      try {
        await dropRunDatabases(context);
      } finally {
        await server.stop();
      }
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
