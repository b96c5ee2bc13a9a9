/**
 * PLACEHOLDER — being replaced by the Postgres store implementation.
 */
import { GatewayError } from '../errors.js';
import type { Store } from './types.js';

export interface PostgresStoreOptions {
  url: string;
  prepare?: boolean;
  max?: number;
}

export function createPostgresStore(_options: PostgresStoreOptions): Store {
  throw new GatewayError('ERR_CONFIG', 'the Postgres store is not built yet');
}
