/**
 * The policy change a `remove` asks the operator to make: Gatehouse never edits the policy
 * file, so the review says exactly which `requesters:` entry or group member to delete, as
 * before/after lines of the keys to edit. A group line changes every resource that lists
 * the group: the text names them, so the operator can choose to remove the group from this
 * resource's requesters instead.
 */
import type { Policy } from '../config/policy.ts';
import type { SlackUserId } from './ids.ts';
import { entriesFor } from './reviews.ts';

const list = (entries: readonly string[]) => `[${entries.join(', ')}]`;

export function policyChange(policy: Policy, resourceId: string, person: SlackUserId): string {
  const resource = policy.resources.find((r) => r.id === resourceId);
  if (!resource || !resource.requesters.includes(person))
    return `# nothing left to change: the loaded policy no longer lets ${person} request ${resourceId}`;
  const entries = policy.requesterEntries.get(resourceId) ?? [];
  const via = entriesFor(person, entries, policy.groups);
  const lines = [`# ${resourceId}: stop ${person} requesting it`];
  if (via.includes(person)) {
    const index = policy.resources.indexOf(resource);
    lines.push(
      `resources[${index}] (id: ${resourceId}) requesters:`,
      `-  ${list(entries)}`,
      `+  ${list(entries.filter((e) => e !== person))}`,
    );
  }
  for (const group of via.filter((e) => e !== person)) {
    const members = policy.groups.get(group) ?? [];
    const others = policy.resources
      .filter((r) => r.id !== resourceId && policy.requesterEntries.get(r.id)?.includes(group))
      .map((r) => r.id);
    lines.push(
      `groups.${group}:${others.length > 0 ? `  # also requesters of ${others.join(', ')}: or remove ${group} from this resource's requesters` : ''}`,
      `-  ${list(members)}`,
      `+  ${list(members.filter((m) => m !== person))}`,
    );
  }
  return lines.join('\n');
}
