/**
 * GatewayError: the one local error family. Pure.
 *
 * Callers and tests switch on `code`, never on the message. `expose` says whether the message is safe to
 * show to a client; when it is not, the error handler answers with a generic text for the status.
 */

export type GatewayErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_VALIDATION'
  | 'ERR_CONFLICT'
  | 'ERR_NOT_FOUND'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_FORBIDDEN'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_PARSE'
  | 'ERR_INVALID_MESSAGE'
  | 'ERR_SESSION_NOT_FOUND'
  | 'ERR_UPSTREAM_UNREACHABLE'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_DRAINING'
  | 'ERR_INTERNAL';

const STATUS: Record<GatewayErrorCode, number> = {
  ERR_CONFIG: 500,
  ERR_VALIDATION: 400,
  ERR_CONFLICT: 409,
  ERR_NOT_FOUND: 404,
  ERR_UNAUTHORIZED: 401,
  ERR_FORBIDDEN: 403,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_PARSE: 400,
  ERR_INVALID_MESSAGE: 400,
  ERR_SESSION_NOT_FOUND: 404,
  ERR_UPSTREAM_UNREACHABLE: 502,
  ERR_UPSTREAM_TIMEOUT: 504,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_DRAINING: 503,
  ERR_INTERNAL: 500,
};

export interface GatewayErrorOptions {
  /** The request field at fault, named in 400 answers. */
  field?: string;
  /** Safe to show the message to the caller. Defaults to true for 4xx, false for 5xx. */
  expose?: boolean;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly field: string | undefined;

  constructor(code: GatewayErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = STATUS[code];
    this.field = options.field;
    this.expose = options.expose ?? this.status < 500;
  }
}

export function isGatewayError(err: unknown, code?: GatewayErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}
