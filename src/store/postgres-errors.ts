/**
 * Maps postgres.js failures onto GatewayError codes, in one place. Pure.
 *
 * Messages are built here from the error's code only: a PostgresError's message or detail can quote row
 * values (`Key (hash)=(…) already exists`), and connection errors can name the server, so neither is ever
 * copied into a GatewayError message. The original stays on `cause` for logs written by the operator.
 */
import { GatewayError } from '../errors.js';

/** Node socket errors and postgres.js ConnectionError codes that mean "the database is not reachable". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ENETDOWN',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
]);

/**
 * SQLSTATEs meaning the server cannot serve us right now (PostgreSQL Appendix A): class 08 connection
 * exception, class 28 bad credentials, class 53 insufficient resources (too many connections, out of
 * memory, disk full), 3D000 no such database, 57P01-57P03 shutdown or starting up, 25006 read-only (a
 * standby during a failover).
 */
const UNAVAILABLE_SQLSTATE = /^(08|28|53)|^(3D000|57P01|57P02|57P03|25006)$/;

/** TLS failures reaching the server (Node's ERR_TLS_*, ERR_SSL_*, and certificate verification codes). */
const TLS_CODE = /^ERR_(TLS|SSL)_|CERT/;

/**
 * SQLSTATEs of a value Postgres cannot hold: 22021 a NUL (or invalid UTF-8) in text, 22P05 `\u0000` in
 * jsonb. Only a client puts such a value in a key or a field, so it is the request's fault (400), not
 * the store's: nothing stored can match it.
 */
const UNREPRESENTABLE_SQLSTATE = new Set(['22021', '22P05']);

export const UNIQUE_VIOLATION = '23505';
export const FOREIGN_KEY_VIOLATION = '23503';

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when `err` says the database could not be reached or dropped the connection. */
export function isUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  return (
    code !== undefined &&
    (CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code) || TLS_CODE.test(code))
  );
}

export function storeUnavailable(cause: unknown): GatewayError {
  const code = codeOf(cause);
  return new GatewayError('ERR_STORE_UNAVAILABLE', `store unavailable${code ? ` (${code})` : ''}`, { cause });
}

/** Builders for the constraint failures one query expects, keyed by SQLSTATE. */
export type ExpectedFailures = Partial<
  Record<typeof UNIQUE_VIOLATION | typeof FOREIGN_KEY_VIOLATION, (cause: unknown) => GatewayError>
>;

/**
 * Turns anything a query threw into a GatewayError: the caller's expected constraint failures first, then
 * ERR_STORE_UNAVAILABLE, then ERR_INTERNAL naming only the operation and the SQLSTATE.
 */
export function toStoreError(err: unknown, operation: string, expected: ExpectedFailures = {}): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = codeOf(err);
  const known = code === UNIQUE_VIOLATION || code === FOREIGN_KEY_VIOLATION ? expected[code] : undefined;
  if (known) return known(err);
  if (isUnavailable(err)) return storeUnavailable(err);
  if (code !== undefined && UNREPRESENTABLE_SQLSTATE.has(code)) {
    return new GatewayError('ERR_VALIDATION', 'Invalid request: text with a NUL character', { cause: err });
  }
  return new GatewayError('ERR_INTERNAL', `store ${operation} failed${code ? ` (${code})` : ''}`, {
    cause: err,
  });
}

/**
 * Runs one store operation and rethrows its failure through `toStoreError`.
 *
 * @example
 * const org = await guard('createOrg', () => sql`insert …`, { '23505': (cause) => conflict(cause) });
 */
export function guard<T>(
  operation: string,
  run: () => PromiseLike<T>,
  expected?: ExpectedFailures,
): Promise<T> {
  return Promise.resolve()
    .then(run)
    .catch((err: unknown) => {
      throw toStoreError(err, operation, expected);
    });
}

/**
 * Bounds a store operation: past `ms` it rejects with ERR_STORE_UNAVAILABLE, so a request never waits on a
 * database that accepts connections but does not answer (issue 5 §7). The query itself is left to finish
 * or fail on its connection; only the caller stops waiting.
 *
 * @example
 * const token = await withDeadline(store.findTokenByHash(hash), 5_000, 'findTokenByHash');
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new GatewayError('ERR_STORE_UNAVAILABLE', `store unavailable (${operation} timed out)`)),
      ms,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
