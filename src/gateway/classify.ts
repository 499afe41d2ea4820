import { loadModule, parseSync } from 'libpg-query';
import type { GatewayLimits, StatementClass } from '../provisioners/postgres-gateway.ts';

/**
 * Which of a resource's gateway limits a statement breaks, if any, judged on the parse
 * tree PostgreSQL's own parser (libpg-query) gives, so a keyword in a string or a comment
 * never decides, and statements inside others (a CTE, PREPARE, EXPLAIN ANALYZE) count.
 */

/** Why a statement is refused: a class the policy refuses, or what a read-only session cannot allow. */
export type RefusalRule = StatementClass | 'read_only' | 'unparsable' | 'audit_unavailable';

export interface Refusal {
  rule: RefusalRule;
  /** What the client is told. */
  reason: string;
}

/** Loads the parser (WebAssembly) once, before the first session. */
export async function loadStatementParser(): Promise<void> {
  await loadModule();
}

/** Statement nodes that define or change the schema, beyond every Create…, Alter… and Drop…. */
const OTHER_DDL = new Set([
  'IndexStmt',
  'ViewStmt',
  'RuleStmt',
  'GrantStmt',
  'GrantRoleStmt',
  'RenameStmt',
  'CommentStmt',
  'DefineStmt',
  'CompositeTypeStmt',
  'ReindexStmt',
  'SecLabelStmt',
  'ImportForeignSchemaStmt',
  'RefreshMatViewStmt',
  'ReassignOwnedStmt',
]);
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'TruncateStmt']);

/** The facts about one tree that the rules need. */
interface Findings {
  classes: Set<StatementClass>;
  /** Something that would undo a read-only session: SET … read_only, READ WRITE, set_config, DO. */
  unsetsReadOnly: boolean;
}

function visit(node: unknown, found: Findings): void {
  if (Array.isArray(node)) {
    for (const item of node) visit(item, found);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const fields = value as Record<string, unknown>;
    if (/^(Create|Alter|Drop)[A-Za-z]*Stmt$/.test(key) || OTHER_DDL.has(key)) {
      if (key !== 'AlterSystemStmt') found.classes.add('ddl');
    }
    if (DML.has(key)) found.classes.add('dml');
    if (key === 'AlterSystemStmt') found.classes.add('alter_system');
    if (key === 'CopyStmt') {
      found.classes.add('copy');
      if (fields.is_program) found.classes.add('copy_program');
    }
    if (key === 'DoStmt') {
      found.classes.add('do');
      found.unsetsReadOnly = true;
    }
    if (key === 'VariableSetStmt') {
      const name = String(fields.name ?? '').toLowerCase();
      if (name === 'role' || name === 'session_authorization') found.classes.add('set_role');
      if (name.includes('read_only')) found.unsetsReadOnly = true;
    }
    if (key === 'DefElem' && fields.defname === 'transaction_read_only') {
      // READ WRITE is the constant 0, which the tree leaves out.
      const constant = (fields.arg as { A_Const?: { ival?: { ival?: number } } } | undefined)?.A_Const;
      if (!constant?.ival?.ival) found.unsetsReadOnly = true;
    }
    if (key === 'FuncCall') {
      const names = (fields.funcname as { String?: { sval?: string } }[] | undefined) ?? [];
      if (names.at(-1)?.String?.sval?.toLowerCase() === 'set_config') found.unsetsReadOnly = true;
    }
    visit(value, found);
  }
}

const CLASS_NAMES: Record<StatementClass, string> = {
  ddl: 'statements that change the schema (DDL)',
  dml: 'statements that change data (INSERT, UPDATE, DELETE, MERGE, TRUNCATE)',
  copy: 'COPY',
  copy_program: 'COPY to or from a program',
  alter_system: 'ALTER SYSTEM',
  set_role: 'SET ROLE and SET SESSION AUTHORIZATION',
  do: 'anonymous code blocks (DO)',
};

/**
 * The refusal for `sql` under `limits`, or null when it may run. Text the parser cannot
 * read is refused when the resource has limits (fail closed); without limits it is sent
 * on, and PostgreSQL answers it as it would anyone.
 */
export function refusalFor(sql: string, limits: GatewayLimits, resourceName: string): Refusal | null {
  if (!limits.readOnly && limits.refuse.length === 0) return null;
  const found: Findings = { classes: new Set(), unsetsReadOnly: false };
  try {
    visit(parseSync(sql).stmts, found);
  } catch {
    return {
      rule: 'unparsable',
      reason: `Gatehouse could not read this statement, and ${resourceName} has limits it must check: it was not run`,
    };
  }
  for (const refused of limits.refuse) {
    if (found.classes.has(refused))
      return { rule: refused, reason: `${CLASS_NAMES[refused]} are not allowed on ${resourceName}: it was not run` };
  }
  if (limits.readOnly && found.unsetsReadOnly)
    return {
      rule: 'read_only',
      reason: `sessions on ${resourceName} are read-only, and this statement could change that: it was not run`,
    };
  return null;
}
