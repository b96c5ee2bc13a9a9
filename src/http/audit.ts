/**
 * `GET /admin/v1/audit?org=&brain=&since=&cursor=&limit=` (issue 7 §4): pages through the audit log in the
 * order it was written. Mounted inside the admin API, behind its token. I/O through the Store.
 *
 * A page is `{records, next}`; `next` is the cursor of the following page, or null when this page was the
 * last one so far (a later call with the same cursor picks up what was written since). Entries still in the
 * write queue (at most MCPGATE_AUDIT_FLUSH_MS old) are written before the page is read, so a request
 * shows up in the audit log as soon as it has been answered.
 */
import { Hono } from 'hono';
import { GatewayError } from '../errors.js';
import type { AuditRecord } from '../store/types.js';
import { auditQuerySchema } from './admin-schemas.js';
import type { AppEnv, GatewayDeps } from './context.js';

export function auditView(record: AuditRecord) {
  return { ...record, at: record.at.toISOString() };
}

export function createAuditRoutes(deps: Pick<GatewayDeps, 'store' | 'observe'>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/', async (c) => {
    const query = auditQuerySchema.safeParse(c.req.query());
    if (!query.success) {
      const issue = query.error.issues[0]!;
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const field = [...issue.path, ...keys].map(String).join('.') || 'query';
      throw new GatewayError('ERR_VALIDATION', `${field}: ${issue.message}`, { field });
    }
    const { org, brain, since, cursor, limit } = query.data;
    await deps.observe.audit.flush();
    const records = await deps.store.listAudit({ org, brain, since, after: cursor, limit });
    const next = records.length === limit ? records.at(-1)!.id : null;
    return c.json({ records: records.map(auditView), next });
  });
  return app;
}
