import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type Config } from '../config/env.ts';
import { hasEmbeddedCluster } from '../db/embedded.ts';

/** Where the sandbox keeps its records: beside the app's, as `npm run sandbox` does. */
const SANDBOX_SUBDIR = 'sandbox';
/** The signing key the sandbox makes for itself when none is set. */
const SANDBOX_KEY_FILE = 'checkpoint-key.pem';

/** The database a command that reads the log uses: DATABASE_URL, or an embedded cluster found on disk. */
export interface DataLocation {
  /** The embedded cluster's directory, absolute; null with DATABASE_URL. */
  dataDir: string | null;
  /** A signing key kept beside the data (the sandbox's), to trust when no key is given. */
  localKeyFile: string | null;
  /** What was read, for the report. */
  notes: string[];
}

/**
 * Finds the data the app and the sandbox record into, without creating anything: the
 * embedded cluster in GATEHOUSE_DATA_DIR (`.data` by default) first, then the sandbox's in
 * its `sandbox/` directory. When there is neither, the error names every place looked.
 */
export async function locateData(cfg: Config, env: NodeJS.ProcessEnv = process.env): Promise<DataLocation> {
  if (cfg.databaseUrl) return { dataDir: null, localKeyFile: null, notes: [] };
  const setting = env.GATEHOUSE_DATA_DIR ? `GATEHOUSE_DATA_DIR=${cfg.dataDir}` : 'GATEHOUSE_DATA_DIR unset, so .data';
  const places = [
    { dir: path.resolve(cfg.dataDir), whose: `the app's, ${setting}` },
    {
      dir: path.resolve(cfg.dataDir, SANDBOX_SUBDIR),
      whose: "the sandbox's, made by npm run sandbox (or npm start with no Slack settings)",
    },
  ];
  const found = [];
  for (const place of places) if (await hasEmbeddedCluster(place.dir)) found.push(place);
  const [chosen, other] = found;
  if (!chosen) {
    throw new ConfigError(
      [
        'No Gatehouse database was found, and none was created. Looked for the embedded PostgreSQL in:',
        ...places.map((p) => `  ${p.dir}: ${p.whose}`),
        'Run the command from the directory Gatehouse was started in, set GATEHOUSE_DATA_DIR to the directory it keeps its data in, or set DATABASE_URL to its PostgreSQL.',
      ].join('\n'),
    );
  }
  const notes = [`Read the embedded database in ${chosen.dir}, ${chosen.whose}.`];
  if (other) {
    notes.push(
      `${other.dir}, ${other.whose}, holds a database too and was not read: set GATEHOUSE_DATA_DIR=${other.dir} to read that one.`,
    );
  }
  const keyFile = path.join(chosen.dir, SANDBOX_KEY_FILE);
  const localKeyFile = await readable(keyFile).then((ok) => (ok ? keyFile : null));
  return { dataDir: chosen.dir, localKeyFile, notes };
}

async function readable(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
