import { loadModule, parseSync } from 'libpg-query';
import type { GatewayLimits, StatementClass } from '../provisioners/postgres-gateway.ts';

/**
 * Which of a resource's gateway limits a statement breaks, if any, judged on the parse
 * tree PostgreSQL's own parser (libpg-query) gives, so a keyword in a string or a comment
 * never decides, and statements inside others (a CTE, PREPARE, EXPLAIN ANALYZE) count.
 */

/**
 * Why a statement is refused: a class the policy refuses, what a read-only session cannot
 * allow, or what no session may do through the gateway (`credentials`: changing the
 * grant's own login role; `session_settings`: the encoding or string rules the gateway reads
 * statements by).
 */
export type RefusalRule =
  | StatementClass
  | 'read_only'
  | 'credentials'
  | 'session_settings'
  | 'gateway_names'
  | 'function_call'
  | 'unparsable'
  | 'audit_unavailable'
  | 'session_ending';

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

/**
 * Settings the gateway reads statements by: it asks for UTF8 and standard strings upstream,
 * and a session may not change them (a backslash would then quote differently for
 * PostgreSQL than for the gateway's parser). session.ts ends a session that does anyway.
 */
export const PINNED_SETTINGS: Record<string, string> = { client_encoding: 'UTF8', standard_conforming_strings: 'on' };

/** The facts about one tree that the rules need. */
interface Findings {
  classes: Set<StatementClass>;
  /** Something that would undo a read-only session: SET … read_only, READ WRITE, set_config, DO. */
  unsetsReadOnly: boolean;
  /** Changes a setting by function or through pg_settings, which SET ROLE's refusal must cover too. */
  setsByFunction: boolean;
  /** ALTER ROLE or ALTER USER: the grant's role could set its own password, then log in past the gateway. */
  altersRole: boolean;
  /** Changes a pinned setting, or may (set_config with a name not written out). */
  changesPinned: boolean;
  /** Names a statement or portal the gateway made upstream (EXECUTE gatehouse_s1, FETCH … gatehouse_p2). */
  namesGatewayObject: boolean;
  /** Every table or view it names (`schema.name` when qualified), lower-case: the watcher's sensitive tables. */
  tables: Set<string>;
  /** Names its WITH clauses define: not tables, unless qualified by a schema. */
  ctes: Set<string>;
}

/** Tables listed in one statement's record, at most. */
const MAX_TABLES = 100;

/** What the gateway names its statements and portals upstream; no SQL may name them. */
export const GATEWAY_NAME_PREFIX = 'gatehouse_';
/** Where SQL names a prepared statement or a cursor. */
const NAME_FIELDS: Record<string, string> = {
  ExecuteStmt: 'name',
  PrepareStmt: 'name',
  DeallocateStmt: 'name',
  DeclareCursorStmt: 'portalname',
  FetchStmt: 'portalname',
  ClosePortalStmt: 'portalname',
  CurrentOfExpr: 'cursor_name',
};

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
    const nameField = NAME_FIELDS[key];
    if (nameField && String(fields[nameField] ?? '').startsWith(GATEWAY_NAME_PREFIX)) found.namesGatewayObject = true;
    if (key === 'intoClause') found.classes.add('ddl'); // SELECT … INTO makes a table
    if (key === 'AlterRoleStmt' || key === 'AlterRoleSetStmt') found.altersRole = true;
    if (key === 'CommonTableExpr' && typeof fields.ctename === 'string') found.ctes.add(fields.ctename.toLowerCase());
    if (key === 'RangeVar' && typeof fields.relname === 'string')
      found.tables.add(
        (typeof fields.schemaname === 'string'
          ? `${fields.schemaname}.${fields.relname}`
          : fields.relname
        ).toLowerCase(),
      );
    if (key === 'VariableSetStmt') {
      const name = String(fields.name ?? '').toLowerCase();
      if (name === 'role' || name === 'session_authorization') found.classes.add('set_role');
      if (name.includes('read_only')) found.unsetsReadOnly = true;
      if (name in PINNED_SETTINGS && fields.kind !== 'VAR_RESET') found.changesPinned = true;
    }
    if (key === 'UpdateStmt' && (fields.relation as { relname?: string } | undefined)?.relname === 'pg_settings') {
      found.setsByFunction = true;
      found.unsetsReadOnly = true;
      found.changesPinned = true;
    }
    if (key === 'DefElem' && fields.defname === 'transaction_read_only') {
      // READ WRITE is the constant 0, which the tree leaves out.
      const constant = (fields.arg as { A_Const?: { ival?: { ival?: number } } } | undefined)?.A_Const;
      if (!constant?.ival?.ival) found.unsetsReadOnly = true;
    }
    if (key === 'FuncCall') {
      const names = (fields.funcname as { String?: { sval?: string } }[] | undefined) ?? [];
      if (names.at(-1)?.String?.sval?.toLowerCase() === 'set_config') {
        found.unsetsReadOnly = true;
        found.setsByFunction = true;
        const first = (fields.args as { A_Const?: { sval?: { sval?: string } } }[] | undefined)?.[0];
        const setting = first?.A_Const?.sval?.sval?.toLowerCase();
        if (setting === undefined || setting in PINNED_SETTINGS) found.changesPinned = true;
      }
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
 * The refusal for `sql` under `limits`, or null when it may run. What no session may do is
 * refused whatever the limits. Text the parser cannot read is refused too (fail closed),
 * with the parser's own words.
 */
export function refusalFor(sql: string, limits: GatewayLimits, resourceName: string): Refusal | null {
  return judge(sql, limits, resourceName).refusal;
}

/** What the record of a statement says of it, for the watcher (src/watch): its classes and the tables it names. */
export interface StatementFacts {
  classes?: StatementClass[];
  tables?: string[];
  /** More than MAX_TABLES names: the list holds the first ones. */
  tables_truncated?: true;
}

/** A statement's refusal under `limits` (null when it may run), and the facts its record carries. */
export function judge(
  sql: string,
  limits: GatewayLimits,
  resourceName: string,
): { refusal: Refusal | null; facts: StatementFacts } {
  const found: Findings = {
    classes: new Set(),
    unsetsReadOnly: false,
    setsByFunction: false,
    altersRole: false,
    changesPinned: false,
    namesGatewayObject: false,
    tables: new Set(),
    ctes: new Set(),
  };
  try {
    visit(parseSync(sql).stmts, found);
  } catch (err) {
    return {
      refusal: {
        rule: 'unparsable',
        reason: `${(err as Error).message}: Gatehouse reads every statement before it runs, and could not read this one, so it was not run`,
      },
      facts: {},
    };
  }
  const refusal = refusalOf(found, limits, resourceName);
  const facts: StatementFacts = {};
  if (found.classes.size > 0) facts.classes = [...found.classes].sort();
  // A WITH name read as a table is the CTE (a schema-qualified name never is).
  const tables = [...found.tables].filter((t) => !found.ctes.has(t)).sort();
  if (tables.length > 0) facts.tables = tables.slice(0, MAX_TABLES);
  if (tables.length > MAX_TABLES) facts.tables_truncated = true;
  return { refusal, facts };
}

function refusalOf(found: Findings, limits: GatewayLimits, resourceName: string): Refusal | null {
  if (found.altersRole)
    return {
      rule: 'credentials',
      reason: `changing the login role (ALTER ROLE, ALTER USER) is not allowed through the Gatehouse gateway: it was not run`,
    };
  if (found.namesGatewayObject)
    return {
      rule: 'gateway_names',
      reason: `names starting ${GATEWAY_NAME_PREFIX} are the gateway's own: use another name; it was not run`,
    };
  if (found.changesPinned)
    return {
      rule: 'session_settings',
      reason: `the gateway keeps client_encoding UTF8 and standard_conforming_strings on, and this statement could change them: it was not run`,
    };
  if (found.setsByFunction && limits.refuse.includes('set_role')) found.classes.add('set_role');
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
