/** pg's SCRAM-SHA-256 client (pg/lib/crypto/sasl.js), which the gateway uses to log in upstream. */
declare module 'pg/lib/crypto/sasl.js' {
  interface SaslSession {
    mechanism: string;
    clientNonce: string;
    response: string;
    message: string;
  }
  const sasl: {
    startSession(mechanisms: string[], stream?: unknown): SaslSession;
    continueSession(session: SaslSession, password: string, serverData: string, stream?: unknown): Promise<void>;
    finalizeSession(session: SaslSession, serverData: string): void;
  };
  export default sasl;
}
