import type { Migration } from 'kysely';
import * as auditLog from './2026-11-26T0001_audit_log.ts';

/** Every migration, in order. Landed migrations are never edited: add a new one. */
export const migrations: Record<string, Migration> = {
  '2026-11-26T0001_audit_log': auditLog,
};
