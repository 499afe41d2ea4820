/** The answer to several resources asked together (docs/asking.md §4): one line per resource. */
import type { Refusal } from '../../access/refusals.ts';
import type { AccessRequest } from '../../access/types.ts';
import { formatDuration } from '../../config/duration.ts';
import { section, type Message } from './kit.ts';
import { refusalText } from './refusals.ts';
import { GLYPH, escapeText, plural, resourceLabel, truncate } from './text.ts';

export type BatchLine =
  { resourceId: string; request: AccessRequest; approvers: number } | { resourceId: string; refusal: Refusal };

export function batchAnswer(batch: string, lines: readonly BatchLine[]): Message {
  const filed = lines.filter((line) => 'request' in line).length;
  const head = `You asked for ${plural(lines.length, 'resource')} together (batch \`${escapeText(batch)}\`): ${plural(filed, 'request')} filed, each decided on its own.`;
  const items = lines.map((line) =>
    'request' in line
      ? `${GLYPH.pending} ${resourceLabel({ id: line.request.resourceId, name: line.request.resourceName })} for ${formatDuration(line.request.durationMs)}: sent to ${plural(line.approvers, 'approver')} (request \`${line.request.id}\`)`
      : `✋ \`${escapeText(truncate(line.resourceId, 100))}\`: ${refusalText(line.refusal)}`,
  );
  const text = truncate([head, ...items.map((item) => `• ${item}`)].join('\n'));
  return { text, blocks: [section(text)] };
}
