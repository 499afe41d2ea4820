/**
 * How an authenticator secret is sealed (secrets/sealed.ts, GATEHOUSE_SECRETS_KEY): bound to
 * its user, so a sealed secret copied to another person's row does not open.
 */
export const sealContext = (userId: string): string => `mfa:${userId}`;
