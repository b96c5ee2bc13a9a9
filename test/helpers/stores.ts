/**
 * Store factories for suites that must hold on both stores (issue 3: "Both stores"): memory always,
 * Postgres when the run has one (test/helpers/postgres.ts), skipped and announced otherwise.
 *
 * @example
 * describe.each(storeFactories())('pass-through on $name', ({ create, skip }) => { ... });
 */
import { inject } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import type { Store } from '../../src/store/types.js';
import { createTestDatabase } from './postgres.js';

export interface StoreFactory {
  name: 'memory' | 'postgres';
  /** True when this store cannot run here (no Postgres for the run). */
  skip: boolean;
  /**
   * A fresh, empty store. The gateway closes the store itself; `drop` removes what is left (the
   * Postgres test database) after that.
   */
  create(): Promise<{ store: Store; drop(): Promise<void> }>;
}

export function storeFactories(): StoreFactory[] {
  return [
    {
      name: 'memory',
      skip: false,
      create: async () => ({ store: createMemoryStore(), drop: async () => {} }),
    },
    {
      name: 'postgres',
      skip: inject('postgres') === null,
      async create() {
        const db = await createTestDatabase();
        return { store: createPostgresStore({ url: db.url, max: 4 }), drop: () => db.drop() };
      },
    },
  ];
}
