import { createHash } from 'node:crypto';
import type { ParameterRecording } from '../provisioners/postgres-gateway.ts';
import type { ParameterValue } from './frontend.ts';
import { cut } from '../audit/event.ts';

/**
 * How a statement looks on the record: its text (cut and hashed when long), its parameters
 * (recorded, hashed or counted, as the resource says), all within the size the audit log
 * takes for one event, and never cut inside a character.
 */

/** Longest statement text kept whole on the record; a longer one is cut and hashed. */
export const MAX_RECORDED_SQL = 8_192;
/** A statement's record past this many bytes keeps hashes of its parameters, then a shorter text. */
const BODY_BUDGET_BYTES = 12 * 1024;
/** Longest error message kept in a statement's outcome. */
export const MAX_RECORDED_ERROR = 1_000;
/** Longest parameter kept whole when parameters are recorded. */
const MAX_RECORDED_PARAM = 1_024;

/** The statement text for the record: whole up to MAX_RECORDED_SQL, else cut, with the whole text's length and hash. */
export function sqlForRecord(sql: string): Record<string, unknown> {
  if (sql.length <= MAX_RECORDED_SQL) return { sql: sql.replaceAll('\0', '') };
  return {
    sql: cut(sql, MAX_RECORDED_SQL).replaceAll('\0', ''),
    sql_length: sql.length,
    sql_sha256: createHash('sha256').update(sql).digest('hex'),
  };
}

/**
 * A record within the audit log's size for one event: parameters recorded whole become
 * their hashes, then the text is cut shorter (its length and hash stay). Never refused for
 * its size.
 */
export function fitted(body: Record<string, unknown>): Record<string, unknown> {
  const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
  if (size(body) <= BODY_BUDGET_BYTES) return body;
  let smaller = body;
  if (Array.isArray(body.params)) {
    const { params, ...rest } = body;
    smaller = {
      ...rest,
      params_sha256: (params as (string | null)[]).map((value) =>
        value === null ? null : createHash('sha256').update(value).digest('hex'),
      ),
      params_cut: true,
    };
  }
  if (size(smaller) > BODY_BUDGET_BYTES && Array.isArray(smaller.params_sha256)) {
    // Hundreds of parameters (a bulk insert): one hash over all their hashes, and how many.
    const { params_sha256: hashes, ...rest } = smaller;
    smaller = {
      ...rest,
      params_count: (hashes as unknown[]).length,
      params_sha256_all: createHash('sha256').update(JSON.stringify(hashes)).digest('hex'),
    };
  }
  if (size(smaller) <= BODY_BUDGET_BYTES || typeof smaller.sql !== 'string') return smaller;
  const sql = smaller.sql;
  return {
    ...smaller,
    sql: cut(sql, 1_000),
    sql_length: smaller.sql_length ?? sql.length,
    sql_sha256: smaller.sql_sha256 ?? createHash('sha256').update(sql).digest('hex'),
  };
}

/** A statement's parameters for the record, as the resource's `parameters:` says. */
export function paramsForRecord(params: ParameterValue[], recording: ParameterRecording): Record<string, unknown> {
  const text = (param: ParameterValue) =>
    param.value === null ? null : param.binary ? `\\x${param.value.toString('hex')}` : param.value.toString('utf8');
  switch (recording) {
    case 'omit':
      return { params_omitted: params.length };
    case 'hash':
      return {
        params_sha256: params.map((param) =>
          param.value === null ? null : createHash('sha256').update(param.value).digest('hex'),
        ),
      };
    case 'record':
      return {
        params: params.map((param) => {
          const value = text(param);
          return value === null ? null : cut(value, MAX_RECORDED_PARAM).replaceAll('\0', '');
        }),
      };
  }
}
