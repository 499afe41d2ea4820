import type { Provisioner } from './provisioner.ts';

/** `kind: none`: access is granted by the record alone, for resources managed by hand. */
export const noneProvisioner: Provisioner = {
  async grant() {},
  async revoke() {},
};
