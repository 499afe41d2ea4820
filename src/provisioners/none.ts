import type { Provisioner } from '../access/ports.ts';
/** `kind: none`: access is granted by the record alone, for resources managed by hand. */
export const noneProvisioner: Provisioner = {
  async grant() {},
  async revoke() {},
};
