/**
 * The provisioner's view, watched through the run: every second, each grant's login on
 * the target (pg_roles: can it log in, until when, is it still a member of the readers'
 * role) beside the grant's end. Access is alive while the login can log in before its
 * VALID UNTIL and still holds the membership; alive more than 2 s past the grant's end is
 * a breach. A sample that fails (the server restarting) is skipped and counted.
 */
import pg from 'pg';
import { roleNameFor } from '../src/provisioners/postgres.ts';
import { READERS_ROLE } from './policy.ts';

export const GRACE_MS = 2000;

export interface AccessBreach {
  grantId: string;
  endsAt: string;
  seenAt: string;
  /** How far past its end the access was seen alive. */
  pastEndMs: number;
}

export class AccessWatch {
  samples = 0;
  failedSamples = 0;
  /** The worst sighting per grant. */
  readonly breaches = new Map<string, AccessBreach>();
  /** Logins whose VALID UNTIL was later than the grant's end plus the grace, when seen. */
  readonly validPastEnd = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly databaseUrl: string) {}

  start(): void {
    const tick = () => {
      this.running = this.sample().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, 1000);
      });
    };
    this.timer = setTimeout(tick, 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  async sample(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      // One snapshot: the grants, the logins and the clock read together.
      await client.query('begin isolation level repeatable read');
      const { rows: grants } = await client.query<{ id: string; ends_at: Date; now: Date }>(
        'select id, ends_at, now() as now from grants',
      );
      const { rows: roles } = await client.query<{ rolname: string; rolvaliduntil: Date | null; member: boolean }>(
        `select r.rolname, r.rolvaliduntil,
                exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
                        where m.member = r.oid and g.rolname = $1) as member
           from pg_roles r where r.rolcanlogin and r.rolname like 'gatehouse_grt%'`,
        [READERS_ROLE],
      );
      await client.query('commit');
      const byRole = new Map(roles.map((r) => [r.rolname, r]));
      for (const grant of grants) {
        const role = byRole.get(roleNameFor(grant.id));
        if (!role) continue;
        const end = grant.ends_at.getTime();
        const now = grant.now.getTime();
        if (role.rolvaliduntil && role.rolvaliduntil.getTime() > end + GRACE_MS) this.validPastEnd.add(grant.id);
        const loginValid = role.rolvaliduntil === null || role.rolvaliduntil.getTime() > now;
        if (!loginValid || !role.member || now <= end + GRACE_MS) continue;
        const pastEndMs = now - end;
        const worst = this.breaches.get(grant.id);
        if (!worst || worst.pastEndMs < pastEndMs)
          this.breaches.set(grant.id, {
            grantId: grant.id,
            endsAt: grant.ends_at.toISOString(),
            seenAt: grant.now.toISOString(),
            pastEndMs,
          });
      }
      this.samples += 1;
    } catch {
      this.failedSamples += 1;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
