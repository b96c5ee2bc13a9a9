/**
 * Structured JSON logging (pino). Factory only; the destination is injectable so tests can capture lines.
 *
 * Secrets never reach a log call by construction (we log ids, never tokens or header values); the redact
 * list is the second line of defence for anything that slips into a logged object.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  'accessToken',
  'access_token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'upstreamHeaders',
  '*.upstreamHeaders',
  'secret',
  'adminToken',
  'metricsToken',
  // Session ids are bearer-like (issue 7 §6): logs carry a short prefix (`session`) at most.
  'sessionId',
  '*.sessionId',
  'upstreamSessionId',
  '*.upstreamSessionId',
  'headers["mcp-session-id"]',
  'req.headers["mcp-session-id"]',
];

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
