import type { AlertInput } from '../../access/alerts.ts';
import type { DatabaseDetector } from '../../config/alerts-policy.ts';
import { resourceById, type Policy } from '../../config/policy.ts';
import { offHoursAlert } from './off-hours.ts';
import { fingerprint, firstWord, sensitiveMatch, strings } from './statement-records.ts';
import {
  num,
  resourceNameOf,
  str,
  type DetectContext,
  type Detector,
  type GrantFacts,
  type WatchedEvent,
} from '../detector.ts';
import { Windows } from '../windows.ts';

/** A statement recorded this long after its grant ended cannot happen by design. */
export const AFTER_END_GRACE_MS = 2000;
const MINUTE = 60_000;
const ROLE_RULES = new Set(['credentials', 'set_role']);

interface SessionState {
  grant: string;
  resource: string | null;
  user: string;
  startedAt: number;
  /** Statements in the session's first minute: its own pace. */
  firstMinute: number;
  /** The first minute was counted from the chain (a session older than this process's memory): not counted again. */
  counted: boolean;
  /** The last event of it seen, for forgetting sessions whose end never came. */
  lastSeen: number;
}

/**
 * A statement outside working hours: the same incident as the off-hours detector's (one
 * per person, resource and local day), so a session opened at 18:50 and used at 03:00 is
 * noted, and one started at night is noted once.
 */
function offHoursOf(policy: Policy, event: WatchedEvent, s: SessionState): AlertInput | null {
  if (!policy.alerts.offHours) return null;
  const found = offHoursAlert(policy, event, s.resource, s.user, 'ran statements');
  return found ? { ...found, grantId: s.grant, sessionId: event.subject } : null;
}

/** Sessions and grant ends are forgotten this long after they were last seen. */
const FORGET_AFTER_MS = 24 * 60 * MINUTE;

/**
 * Database activity through the gateway: refused statements, DDL and role changes,
 * statements naming tables the resource marks sensitive, a statement returning more rows
 * than the threshold, a statement rate far above the session's own first minute, and any
 * statement recorded after its grant ended (critical: the gateway ends sessions with their
 * grant, so this means something is badly wrong).
 */
export function databaseDetector(settings: DatabaseDetector): Detector {
  const sessions = new Map<string, SessionState>();
  const rate = new Windows(MINUTE);
  /** When each grant stopped giving access, from its grant.ending event. */
  const endings = new Map<string, number>();
  /** Grants read once: their end moves only by an ending, which `endings` follows. */
  const grants = new Map<string, GrantFacts | null>();

  let observed = 0;
  function forget(now: number): void {
    for (const [id, session] of sessions) if (session.lastSeen < now - FORGET_AFTER_MS) sessions.delete(id);
    for (const [id, at] of endings) if (at < now - FORGET_AFTER_MS) endings.delete(id);
  }

  async function grantOf(id: string, ctx: DetectContext): Promise<GrantFacts | null> {
    if (grants.has(id)) return grants.get(id) ?? null;
    if (grants.size >= 10_000) grants.clear();
    const facts = await ctx.facts.grant(id);
    grants.set(id, facts);
    return facts;
  }

  async function sessionOf(event: WatchedEvent, ctx: DetectContext): Promise<SessionState | null> {
    const id = event.subject;
    if (!id) return null;
    let state = sessions.get(id);
    if (state) return state;
    // Started before the replayed window: its first minute is read from the chain once.
    const grant = str(event.body['grant']);
    const start = await ctx.facts.sessionStart(id);
    const facts = grant ? await grantOf(grant, ctx) : null;
    if (!grant || !facts) return null;
    state = {
      grant,
      resource: facts.resourceId,
      user: facts.userId,
      startedAt: start?.startedAt.getTime() ?? event.time.getTime(),
      firstMinute: start?.firstMinute ?? 0,
      counted: start !== null,
      lastSeen: event.time.getTime(),
    };
    sessions.set(id, state);
    return state;
  }

  function alert(
    event: WatchedEvent,
    s: SessionState,
    detector: string,
    severity: AlertInput['severity'],
    key: string,
    title: string,
    detail: string,
    evidence: number[] = [event.seq],
  ): AlertInput {
    return {
      detector,
      severity,
      incidentKey: `${detector}:${event.subject}:${key}`,
      subject: event.subject ?? s.grant,
      userId: s.user,
      resourceId: s.resource,
      grantId: s.grant,
      sessionId: event.subject,
      title,
      detail,
      evidence,
    };
  }

  return {
    actions: [
      'gateway.session_started',
      'gateway.statement',
      'gateway.statement_refused',
      'gateway.statement_done',
      'gateway.session_ended',
      'grant.ending',
    ],
    lookbackMs: MINUTE,
    async observe(event: WatchedEvent, ctx: DetectContext): Promise<AlertInput[]> {
      const { policy } = ctx;
      if (++observed % 10_000 === 0) forget(event.time.getTime());
      if (event.action === 'grant.ending') {
        if (event.subject) endings.set(event.subject, event.time.getTime());
        return [];
      }
      if (event.action === 'gateway.session_started') {
        const grant = str(event.body['grant']);
        if (event.subject && grant)
          sessions.set(event.subject, {
            grant,
            resource: str(event.body['resource']),
            user: event.actor,
            startedAt: event.time.getTime(),
            firstMinute: 0,
            counted: false,
            lastSeen: event.time.getTime(),
          });
        return [];
      }
      if (event.action === 'gateway.session_ended') {
        if (event.subject) sessions.delete(event.subject);
        return [];
      }
      const s = await sessionOf(event, ctx);
      if (!s) return [];
      s.lastSeen = event.time.getTime();
      const name = resourceNameOf(policy, s.resource);
      const resource = s.resource ? resourceById(policy, s.resource) : undefined;
      const found: AlertInput[] = [];
      const sql = (str(event.body['sql']) ?? '').slice(0, 200);

      if (event.action === 'gateway.statement_done') {
        const rows = num(event.body['rows']) ?? 0;
        const over = resource?.alerts.rowsOver ?? settings.rowsOver;
        if (rows > over)
          found.push(
            alert(
              event,
              s,
              'db_rows',
              'warning',
              // A read ten times bigger than the one alerted on is a new incident.
              `rows:${Math.floor(Math.log10(rows))}`,
              `A statement returned ${rows} rows`,
              `On ${name}, statement ${String(event.body['n'])} touched ${rows} rows (the threshold is ${over}). A bulk export looks like this.`,
            ),
          );
        return found;
      }

      if (event.action === 'gateway.statement_refused') {
        const rule = str(event.body['rule']) ?? 'unknown';
        found.push(
          alert(
            event,
            s,
            'db_refused',
            'warning',
            'refused',
            `A statement was refused on ${name}`,
            `Rule ${rule}: ${str(event.body['reason']) ?? ''} Statement: ${sql}`,
          ),
        );
        if (ROLE_RULES.has(rule))
          found.push(
            alert(
              event,
              s,
              'db_role_change',
              'high',
              `role:${fingerprint(sql)}`,
              `Tried to change roles on ${name}`,
              `Refused (${rule}): ${sql}`,
            ),
          );
      }

      // A statement (run or refused): its time against the grant's end.
      const time = event.time.getTime();
      const grant = await grantOf(s.grant, ctx);
      const ended = Math.min(
        endings.get(s.grant) ?? Infinity,
        grant ? grant.endsAt.getTime() : Infinity,
        grant?.endedAt?.getTime() ?? Infinity,
      );
      if (time > ended + AFTER_END_GRACE_MS)
        found.push(
          alert(
            event,
            s,
            'db_after_end',
            'critical',
            'after_end',
            `A statement ran on ${name} after the grant ended`,
            `Recorded ${Math.round((time - ended) / 1000)} s after ${s.grant} ended: the gateway should have closed this session. End access now and check the gateway. Statement: ${sql}`,
          ),
        );
      if (event.action !== 'gateway.statement') return found;

      const offHours = offHoursOf(policy, event, s);
      if (offHours) found.push(offHours);
      const classes = strings(event.body['classes']);
      const tables = strings(event.body['tables']);
      // One incident per kind of change and what it names: a harmless CREATE TEMP TABLE does
      // not hide the DROP … CASCADE that follows it.
      if (classes.includes('ddl') || classes.includes('alter_system'))
        found.push(
          alert(
            event,
            s,
            'db_ddl',
            'warning',
            `ddl:${fingerprint(`${firstWord(sql)} ${tables.join(',')}`)}`,
            `Changed the schema of ${name}`,
            `DDL ran: ${sql}`,
          ),
        );
      if (classes.includes('set_role'))
        found.push(
          alert(
            event,
            s,
            'db_role_change',
            'high',
            `role:${fingerprint(sql)}`,
            `Changed roles on ${name}`,
            `Ran: ${sql}`,
          ),
        );
      if (event.body['tables_truncated'] === true && (resource?.alerts.sensitiveTables.length ?? 0) > 0)
        found.push(
          alert(
            event,
            s,
            'db_sensitive_table',
            'warning',
            'table:truncated',
            `Named more tables than the record keeps on ${name}`,
            `A statement named over ${tables.length} tables; ${name}'s sensitive tables may be among those not recorded by name. Statement: ${sql}`,
          ),
        );
      for (const table of tables) {
        const sensitive = sensitiveMatch(resource?.alerts.sensitiveTables ?? [], table);
        if (sensitive)
          found.push(
            alert(
              event,
              s,
              'db_sensitive_table',
              'warning',
              `table:${sensitive}`,
              `Read or changed ${sensitive} on ${name}`,
              `${name} marks ${sensitive} sensitive. Statement: ${sql}`,
            ),
          );
      }

      // The session's pace: its first minute against the last one.
      if (time < s.startedAt + MINUTE) {
        if (!s.counted) s.firstMinute += 1;
        return found;
      }
      const threshold = Math.max(settings.rateFloorPerMinute, s.firstMinute * settings.rateFactor);
      const hits = rate.add(event.subject ?? '', { seq: event.seq, time }, threshold);
      if (hits)
        found.push(
          alert(
            event,
            s,
            'db_rate',
            'warning',
            String(event.seq),
            `${hits.length} statements in a minute on ${name}`,
            `The session began at ${s.firstMinute} in its first minute; ${settings.rateFactor}× that (at least ${settings.rateFloorPerMinute}) is the alarm. A script dumping data looks like this.`,
            [hits[0]!.seq, event.seq],
          ),
        );
      return found;
    },
  };
}
