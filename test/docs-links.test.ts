import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** The pages a reader follows links between. */
function pages(): string[] {
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => join('docs', file));
  return [...['README.md', 'CONTRIBUTING.md'].filter((file) => existsSync(join(root, file))), ...docs].sort();
}

/** Markdown outside fenced code blocks, where a `[text](target)` is a link. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** The anchors GitHub makes for a page's headings: lower case, punctuation dropped, spaces as hyphens. */
function anchorsOf(text: string): Set<string> {
  const headings = [...prose(text).matchAll(/^#+\s+(.+)$/gm)].map((match) => match[1]!.trim());
  return new Set(
    headings.map((heading) =>
      heading
        .toLowerCase()
        .replace(/[^\p{L}\p{N}_\- ]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('links between the docs', () => {
  it('lead to files in this repository, and to headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages()) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?|mailto):/.test(target!)) continue;
        const [path, fragment] = target!.split('#') as [string, string | undefined];
        const file = path === '' ? page : normalize(join(dirname(page), path));
        if (!existsSync(join(root, file))) {
          broken.push(`${page}: ${target} (no file ${file})`);
        } else if (
          fragment &&
          file.endsWith('.md') &&
          !anchorsOf(readFileSync(join(root, file), 'utf8')).has(fragment)
        ) {
          broken.push(`${page}: ${target} (no heading #${fragment} in ${file})`);
        }
      }
    }
    expect(
      broken,
      'links to nothing: point them at a file of this repository (notes outside it are not for readers of these pages)',
    ).toEqual([]);
  });
});
