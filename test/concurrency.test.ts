import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const WORKERS = 2;
const APPENDERS = 20;
const EACH = 15;

function startWorker(url: string, worker: number): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/append-worker.ts', url, String(worker), String(APPENDERS), String(EACH)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
}

async function nextLine(child: ChildProcess): Promise<string> {
  const lines = readline.createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

describe('appending from several processes at once', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it(`keeps one gapless chain with ${WORKERS} processes × ${APPENDERS} concurrent appenders, each sequencing`, async () => {
    const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(t.url, i));
    expect(await Promise.all(workers.map(nextLine))).toEqual(workers.map(() => 'ready'));
    const exits = workers.map((w) => once(w, 'exit'));
    for (const w of workers) w.stdin!.end('go\n');
    const codes = (await Promise.all(exits)).map(([code]) => code as number);
    expect(codes).toEqual(workers.map(() => 0));

    await t.audit.flush();
    const total = WORKERS * APPENDERS * EACH;
    const result = await t.audit.verify();
    expect(result).toMatchObject({ ok: true, checked: total, headSeq: total });

    // Every event arrived exactly once: none lost, none chained twice.
    const { rows } = await t.query<{ n: number; distinct_events: number; min: number; max: number }>(`
      select count(*) as n,
             count(distinct body::text) as distinct_events,
             min(seq)::int as min, max(seq)::int as max
      from audit_log where action = 'test.concurrent'`);
    expect(rows[0]).toEqual({ n: total, distinct_events: total, min: 1, max: total });
    const queue = await t.query<{ n: number }>('select count(*) as n from audit_queue');
    expect(queue.rows[0]?.n).toBe(0);
  });
});
