import { z } from 'zod';
import type { Provisioner } from '../access/ports.ts';
import { strict } from '../config/policy-schema.ts';
import type { ProvisionerKind } from './kind.ts';

export interface NoneProvisionerConfig {
  kind: 'none';
}

/** `kind: none`: access is granted by the record alone, for resources managed by hand. */
export const noneProvisioner: Provisioner = {
  async grant() {},
  async revoke() {},
};

export const noneKind: ProvisionerKind<NoneProvisionerConfig> = {
  kind: 'none',
  schema: strict({ kind: z.literal('none') }, 'a provisioner', 'kind none takes no other settings'),
  create: () => noneProvisioner,
  wouldDo: () => ({ kind: 'none' }),
};
