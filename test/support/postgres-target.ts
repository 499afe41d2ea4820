import pg from 'pg';

/** A connection as a contractor would open it, from the credentials their grant's message gave them. */
export async function connectAs(credentials: Record<string, string>): Promise<pg.Client> {
  const client = new pg.Client({
    host: credentials.host,
    port: Number(credentials.port),
    database: credentials.database,
    user: credentials.user,
    password: credentials.password,
  });
  client.on('error', () => undefined); // the server ending the session is what the tests expect
  await client.connect();
  return client;
}
