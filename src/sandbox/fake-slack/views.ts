import { randomBytes } from 'node:crypto';
import { blockKitProblems, type Surface } from './block-kit-limits.ts';
import {
  APP_ID,
  BOT_ID,
  TEAM_ID,
  fail,
  isObject,
  missing,
  ok,
  str,
  type Answer,
  type Args,
  type Clock,
  type MethodHandler,
} from './protocol.ts';

/** A modal or Home tab as Slack returns it from views.*. */
export interface SlackView extends Record<string, unknown> {
  id: string;
  type: 'modal' | 'home';
  blocks: unknown[];
  callback_id: string;
  private_metadata: string;
  external_id: string;
  hash: string;
  state: { values: Record<string, Record<string, unknown>> };
  root_view_id: string;
  previous_view_id: string | null;
}

/** Slack lets an app open a view for 3 seconds after the interaction that gave the trigger. */
export const TRIGGER_LIFETIME_MS = 3000;
/** views.publish answers view_too_large past this (slack-ruby/slack-api-ref). */
const MAX_VIEW_BYTES = 250_000;

interface Trigger {
  userId: string;
  issuedAtMs: number;
}

interface ShownView {
  userId: string;
  view: SlackView;
  /** Set once the person closed it, or a submission closed it; opened() still lists it. */
  closed: boolean;
}

/** Modals, Home tabs and the trigger ids that may open them: views.*. */
export class ViewStore {
  private readonly triggers = new Map<string, Trigger>();
  private readonly modals: ShownView[] = [];
  private readonly homes = new Map<string, SlackView>();
  private nextId = 1;

  constructor(private readonly clock: Clock) {}

  readonly handlers: Record<string, MethodHandler> = {
    'views.open': (args) => this.open(args, 'open'),
    'views.push': (args) => this.open(args, 'push'),
    'views.update': (args) => this.update(args),
    'views.publish': (args) => this.publish(args),
  };

  /** A trigger id as Slack puts in commands and clicks, valid for views.open from now. */
  issueTrigger(userId: string): string {
    const id = `${Date.now()}.${TEAM_ID}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { userId, issuedAtMs: this.clock.advancedMs });
    return id;
  }

  /** Modals opened or pushed, oldest first, each in its latest version. */
  opened(userId?: string): SlackView[] {
    return this.modals.filter((shown) => userId === undefined || shown.userId === userId).map((shown) => shown.view);
  }

  /** The modals `userId` has open, bottom first: what their client shows. */
  openStack(userId: string): SlackView[] {
    return this.modals.filter((shown) => shown.userId === userId && !shown.closed).map((shown) => shown.view);
  }

  /** Closes a modal and those pushed on top of it. */
  close(userId: string, viewId: string): void {
    const stack = this.modals.filter((shown) => shown.userId === userId && !shown.closed);
    const at = stack.findIndex((shown) => shown.view.id === viewId);
    if (at < 0) return;
    for (const shown of stack.slice(at)) shown.closed = true;
  }

  /**
   * What Slack does with a view_submission ack that changes the stack: `update` redraws the
   * submitted view in place (same id, new hash), `push` opens a view above it.
   */
  answerSubmission(userId: string, viewId: string, ack: Args): Answer {
    const current = this.openStack(userId).find((view) => view.id === viewId);
    if (!current) return fail('not_found', [`no open modal ${viewId} for ${userId}`]);
    const problem = viewProblem('modal', ack.view);
    if (problem) return problem;
    if (ack.response_action === 'push') {
      const view = this.build(ack.view as Args, 'modal', current);
      this.modals.push({ userId, view, closed: false });
      return ok({ view });
    }
    if (ack.response_action !== 'update')
      return fail('invalid_arguments', ['response_action must be update or push here']);
    const { id, root_view_id, previous_view_id } = current;
    Object.assign(current, this.build(ack.view as Args, 'modal', undefined), { id, root_view_id, previous_view_id });
    return ok({ view: current });
  }

  homeOf(userId: string): SlackView | undefined {
    return this.homes.get(userId);
  }

  byId(id: string): SlackView | undefined {
    return (
      this.modals.find((shown) => shown.view.id === id)?.view ?? [...this.homes.values()].find((view) => view.id === id)
    );
  }

  private open(args: Args, how: 'open' | 'push'): Answer {
    const triggerId = str(args.trigger_id) ?? str(args.interactivity_pointer);
    if (!triggerId) return missing('trigger_id');
    const trigger = this.triggers.get(triggerId);
    if (!trigger) return fail('invalid_trigger_id', ['trigger_id was not issued by this workspace']);
    if (this.clock.advancedMs - trigger.issuedAtMs > TRIGGER_LIFETIME_MS) return fail('expired_trigger_id');
    const problem = viewProblem('modal', args.view) ?? this.externalIdTaken(args.view);
    if (problem) return problem;
    const below = how === 'push' ? this.openStack(trigger.userId).at(-1) : undefined;
    // views.open starts a new stack: whatever the person had open is replaced.
    if (how === 'open') for (const shown of this.modals) if (shown.userId === trigger.userId) shown.closed = true;
    const view = this.build(args.view as Args, 'modal', below);
    this.modals.push({ userId: trigger.userId, view, closed: false });
    return ok({ view });
  }

  private update(args: Args): Answer {
    const viewId = str(args.view_id);
    const externalId = str(args.external_id);
    if (!viewId && !externalId) return missing('view_id');
    const current = viewId ? this.byId(viewId) : this.allViews().find((view) => view.external_id === externalId);
    if (!current) return fail('not_found');
    const stale = hashConflict(current, args);
    if (stale) return stale;
    const problem = viewProblem(current.type, args.view);
    if (problem) return problem;
    const { id, root_view_id, previous_view_id } = current;
    Object.assign(current, this.build(args.view as Args, current.type, undefined), {
      id,
      root_view_id,
      previous_view_id,
    });
    return ok({ view: current });
  }

  private publish(args: Args): Answer {
    const userId = str(args.user_id);
    if (!userId) return missing('user_id');
    const current = this.homes.get(userId);
    const stale = current && hashConflict(current, args);
    if (stale) return stale;
    const problem = viewProblem('home', args.view);
    if (problem) return problem;
    const view = this.build(args.view as Args, 'home', undefined);
    // A user's Home tab keeps its id across publishes, as in Slack.
    if (current) Object.assign(view, { id: current.id, root_view_id: current.id });
    this.homes.set(userId, view);
    return ok({ view });
  }

  private build(spec: Args, type: SlackView['type'], below: SlackView | undefined): SlackView {
    const id = `V${String(this.nextId++).padStart(8, '0')}`;
    return {
      clear_on_close: false,
      notify_on_close: false,
      ...spec,
      id,
      team_id: TEAM_ID,
      app_id: APP_ID,
      bot_id: BOT_ID,
      app_installed_team_id: TEAM_ID,
      type,
      blocks: Array.isArray(spec.blocks) ? spec.blocks : [],
      callback_id: str(spec.callback_id) ?? '',
      private_metadata: str(spec.private_metadata) ?? '',
      external_id: str(spec.external_id) ?? '',
      hash: `${Math.floor(this.clock.now() / 1000)}.${randomBytes(4).toString('hex')}`,
      state: { values: {} },
      root_view_id: below?.root_view_id ?? id,
      previous_view_id: below?.id ?? null,
    };
  }

  private allViews(): SlackView[] {
    return [...this.opened(), ...this.homes.values()];
  }

  private externalIdTaken(view: unknown): Answer | undefined {
    const externalId = isObject(view) ? str(view.external_id) : undefined;
    if (externalId && this.allViews().some((v) => v.external_id === externalId)) return fail('duplicate_external_id');
    return undefined;
  }
}

/** Slack's optimistic lock: a stale `hash` means someone else changed the view first. */
function hashConflict(current: SlackView, args: Args): Answer | undefined {
  const hash = str(args.hash);
  return hash && hash !== current.hash ? fail('hash_conflict') : undefined;
}

function viewProblem(kind: Surface, view: unknown): Answer | undefined {
  if (!isObject(view)) return fail('invalid_arguments', ['view must be a JSON object']);
  const expected = kind === 'home' ? 'home' : 'modal';
  if (view.type !== expected)
    return fail('invalid_arguments', [
      `view type must be ${expected}, is ${String(view.type)} [json-pointer:/view/type]`,
    ]);
  if (JSON.stringify(view).length > MAX_VIEW_BYTES)
    return fail('view_too_large', [`view must be at most ${MAX_VIEW_BYTES} bytes`]);
  const problems = blockKitProblems(kind, view.blocks, view);
  return problems.length > 0 ? fail('invalid_arguments', problems) : undefined;
}
