import type { Policy } from '../config/policy.ts';

/** Someone the sandbox lets you be: a member of one of the policy's groups, or named in a resource. */
export interface SandboxPerson {
  id: string;
  /** From the policy file's comment beside the id (`- U05CNTR0001 # Ana (Acme)`), else the id. */
  name: string;
  /** What the policy makes them: its group names, and `owner of x` / `may request x`. */
  roles: string[];
}

export interface SandboxChannel {
  id: string;
  name: string;
  purpose: string;
}

/** The people and channels of the sandbox's make-believe workspace, all taken from the policy. */
export interface SandboxWorkspace {
  people: SandboxPerson[];
  channels: SandboxChannel[];
}

/** `- U05CNTR0001 # Ana (Acme Consulting)`: a list item with an id, and a name up to `,` or `(`. */
const COMMENTED_ID = /^\s*-\s*([UW][A-Z0-9]+)\s*#\s*([^,(#]+)/;

/** Display names from the comments a policy file puts beside ids, as gatehouse.example.yml does. */
export function namesFromComments(policyText: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const line of policyText.split('\n')) {
    const match = COMMENTED_ID.exec(line);
    const [, id, name] = match ?? [];
    if (id && name?.trim()) names.set(id, name.trim());
  }
  return names;
}

export function sandboxWorkspace(policy: Policy, policyText: string): SandboxWorkspace {
  const names = namesFromComments(policyText);
  const roles = new Map<string, string[]>();
  const add = (id: string, role: string) => {
    const list = roles.get(id) ?? [];
    if (!list.includes(role)) list.push(role);
    roles.set(id, list);
  };
  for (const [group, members] of policy.groups) for (const id of members) add(id, group);
  for (const resource of policy.resources) {
    for (const id of resource.owners) add(id, `owner of ${resource.id}`);
    for (const id of resource.requesters) add(id, `may request ${resource.id}`);
  }
  const people = [...roles].map(([id, list]) => ({ id, name: names.get(id) ?? id, roles: list }));

  const channels: SandboxChannel[] = [
    { id: policy.auditChannel, name: 'audit', purpose: 'Every audit event, in order' },
  ];
  for (const resource of policy.resources) {
    const id = resource.approvalChannel;
    if (id && !channels.some((c) => c.id === id)) {
      channels.push({
        id,
        name: `approvals-${resource.id}`.slice(0, 80),
        purpose: `Approval cards for ${resource.name}`,
      });
    }
  }
  return { people, channels };
}
