/**
 * The benchmark's audit stream, as Gatehouse writes it: mostly gateway statements and their
 * outcomes (bodies as src/gateway/session.ts records them), with sessions starting and
 * ending, and a trickle of requests, approvals, grants ending and refusals (bodies as
 * src/access writes them). Requests and approvals come with their table rows, which the
 * detectors' facts read. Deterministic: the same seed gives the same stream.
 */
import type { AuditEventInput } from '../src/audit/event.ts';
import { GatewaySessions, type Dice } from './alerts-sessions.ts';
import { CONTRACTORS, MAX_DURATION_MS, RESOURCES, type BenchResource, type World } from './alerts-world.ts';
import { contractorId } from './bench-gatehouse.ts';

/** A request's row, written with its request.created. */
export interface RequestRow {
  id: string;
  requester: string;
  resource_id: string;
  duration_ms: number;
  reason: string;
  status: 'approved';
  approvals_required: number;
  expires_at: Date;
  policy_sha256: string;
}

/** An approval's row, written with its approval.recorded. */
export interface ApprovalRow {
  request_id: string;
  approver: string;
}

/** Events to queue in one commit, with the rows they describe. */
export interface StreamBatch {
  events: AuditEventInput<string>[];
  requests: RequestRow[];
  approvals: ApprovalRow[];
}

/**
 * How often each happening comes, against 1,000 statement steps (a statement and the
 * previous one's outcome: two events). About 0.5 % of the events are not the gateway's.
 */
const WEIGHTS = {
  statement: 1000,
  sessionChurn: 0.8,
  requestCreated: 1,
  approval: 1,
  grantEnding: 0.6,
  approvalRefused: 0.3,
  requestRefused: 0.3,
  mfaFailed: 0.3,
  loginRefused: 0.2,
  statementRefused: 0.4,
  revokeFailed: 0.2,
} as const;
type Happening = keyof typeof WEIGHTS;
const TOTAL_WEIGHT = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
type Emit = (event: AuditEventInput<string>) => void;

/** mulberry32 dice: small, fast and the same on every run. */
function dice(seed: number): Dice {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, int: (n) => Math.floor(next() * n) };
}

export class AlertStream {
  private readonly dice: Dice;
  private readonly gateway: GatewaySessions;
  private requestCount = 0;
  private endingIndex = 0;
  private approvalIndex = 0;
  /** Events made so far, by action. */
  readonly made: Record<string, number> = {};

  /** `tag` keeps the ids of two streams on one database apart. */
  constructor(
    private readonly world: World,
    private readonly tag: string,
    seed = 1,
  ) {
    this.dice = dice(seed);
    this.gateway = new GatewaySessions(world, tag, this.dice);
  }

  /** The next `count` events (give or take the two or three of the last happening), with their rows. */
  take(count: number): StreamBatch {
    const batch: StreamBatch = { events: [], requests: [], approvals: [] };
    const emit = (event: AuditEventInput<string>) => {
      batch.events.push(event);
      this.made[event.action] = (this.made[event.action] ?? 0) + 1;
    };
    this.gateway.announce(emit);
    while (batch.events.length < count) this.happen(this.choose(), batch, emit);
    return batch;
  }

  private choose(): Happening {
    let x = this.dice.next() * TOTAL_WEIGHT;
    for (const [happening, weight] of Object.entries(WEIGHTS) as [Happening, number][]) {
      x -= weight;
      if (x < 0) return happening;
    }
    return 'statement';
  }

  private happen(happening: Happening, batch: StreamBatch, emit: Emit): void {
    const person = contractorId(this.dice.int(CONTRACTORS));
    const resource = RESOURCES[this.dice.int(RESOURCES.length)]!;
    switch (happening) {
      case 'statement':
        return this.gateway.statement(emit);
      case 'statementRefused':
        return this.gateway.refused(emit);
      case 'sessionChurn':
        return this.gateway.churn(emit);
      case 'requestCreated':
        return this.requestCreated(person, resource, batch, emit);
      case 'approval':
        return this.approval(batch, emit);
      case 'grantEnding': {
        const grant = this.world.endingGrants[this.endingIndex++ % this.world.endingGrants.length]!;
        const body = {
          user: grant.user,
          resource: grant.resource.id,
          reason: 'expired',
          ends_at: new Date().toISOString(),
        };
        emit({ actor: 'system', action: 'grant.ending', subject: grant.id, body });
        emit({ actor: 'system', action: 'grant.revoked', subject: grant.id, body });
        return;
      }
      case 'approvalRefused':
        return emit({
          actor: person,
          action: 'approval.refused',
          subject: this.world.approvable[this.dice.int(this.world.approvable.length)]!.id,
          body: { resource: resource.id, decision: 'approve', reason: 'not-approver' },
        });
      case 'requestRefused':
        return emit({
          actor: person,
          action: 'request.refused',
          subject: null,
          body: { resource: 'prod-admin', reason: 'unknown-resource' },
        });
      case 'mfaFailed':
        return emit({
          actor: person,
          action: 'mfa.failed',
          subject: person,
          body: { purpose: 'request', reason: 'wrong', failures_in_window: 1 },
        });
      case 'loginRefused': {
        const grant = this.gateway.liveGrant();
        return emit({
          actor: 'system',
          action: 'gateway.login_refused',
          subject: grant.id,
          body: {
            user: grant.user,
            resource: grant.resource.id,
            reason: 'wrong_password',
            client_address: `10.2.${this.dice.int(200)}.${this.dice.int(250)}`,
          },
        });
      }
      case 'revokeFailed': {
        const grant = this.world.endingGrants[this.dice.int(this.world.endingGrants.length)]!;
        return emit({
          actor: 'system',
          action: 'grant.revoke_failed',
          subject: grant.id,
          body: { user: grant.user, resource: grant.resource.id, attempt: 1, error: 'connect ETIMEDOUT 10.0.4.17:443' },
        });
      }
    }
  }

  private requestCreated(person: string, resource: BenchResource, batch: StreamBatch, emit: Emit): void {
    const id = `req_${this.tag}_${++this.requestCount}`;
    const durationMs = this.dice.int(5) === 0 ? MAX_DURATION_MS : 3_600_000;
    const reason = 'investigate a failed order export for a customer ticket';
    batch.requests.push({
      id,
      requester: person,
      resource_id: resource.id,
      duration_ms: durationMs,
      reason,
      status: 'approved',
      approvals_required: 1,
      expires_at: new Date(Date.now() + 86_400_000),
      policy_sha256: this.world.policySha256,
    });
    emit({
      actor: person,
      action: 'request.created',
      subject: id,
      body: {
        resource: resource.id,
        duration_ms: durationMs,
        reason,
        approvals_required: 1,
        owners: [...resource.owners],
        mfa_checked: false,
        policy_sha256: this.world.policySha256,
      },
    });
  }

  /** An owner approves one of the requests made before the run; two in three are then granted. */
  private approval(batch: StreamBatch, emit: Emit): void {
    const request = this.world.approvable[this.approvalIndex++ % this.world.approvable.length]!;
    const owner = request.resource.owners[this.dice.int(request.resource.owners.length)]!;
    if (this.approvalIndex <= this.world.approvable.length)
      batch.approvals.push({ request_id: request.id, approver: owner });
    emit({
      actor: owner,
      action: 'approval.recorded',
      subject: request.id,
      body: { resource: request.resource.id, given: 1, required: 1, mfa_checked: false },
    });
    if (this.dice.int(3) === 0) return;
    const grant = `grt_${this.tag}_${this.approvalIndex}`;
    emit({
      actor: owner,
      action: 'request.approved',
      subject: request.id,
      body: { resource: request.resource.id, approvers: [owner], grant },
    });
    emit({
      actor: 'system',
      action: 'grant.active',
      subject: grant,
      body: {
        user: request.user,
        resource: request.resource.id,
        ends_at: new Date(Date.now() + 3_600_000).toISOString(),
        attempt: 1,
      },
    });
  }
}
