import type { ProvisionerConfig } from '../config/policy.ts';
import { noneProvisioner } from './none.ts';
import type { Provisioner } from './provisioner.ts';

export type { Provisioner, ProvisionerFactory } from './provisioner.ts';

export function provisionerFor(config: ProvisionerConfig): Provisioner {
  switch (config.kind) {
    case 'none':
      return noneProvisioner;
  }
}
