// Reads README.md the way a user does, so tests can hold it to the code: its fenced examples, its
// inline code, its tables and the routes, flags and names it mentions.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

export function readmeText(): string {
  return readFileSync(README, 'utf8');
}

export interface FencedBlock {
  /** The info string's first word (`yaml`, `bash`, …; '' when none). */
  lang: string;
  /** The block's text, with the fence's own indentation taken off each line. */
  body: string;
  /** 1-based line of the opening fence, for messages. */
  line: number;
}

/** Every fenced block, top-level or indented in a list. */
export function fencedBlocks(text: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^( *)```(\S*)/.exec(lines[index] as string);
    if (open === null) continue;
    const indent = (open[1] as string).length;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !new RegExp(`^ {${indent}}\`\`\`\\s*$`).test(lines[end] as string)) body.push((lines[end++] as string).slice(indent));
    blocks.push({ lang: open[2] as string, body: body.join('\n'), line: index + 1 });
    index = end;
  }
  return blocks;
}

/** The text outside fenced blocks. */
export function proseOf(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of lines) {
    const marker = /^( *)```/.exec(line);
    if (marker !== null) fence = fence === undefined ? (marker[1] as string) : line.startsWith(`${fence}\`\`\``) ? undefined : fence;
    else if (fence === undefined) out.push(line);
  }
  return out.join('\n');
}

/** Inline code spans (`…`) of the prose. */
export function codeSpans(text: string): string[] {
  return [...proseOf(text).matchAll(/`([^`\n]+)`/g)].map((match) => match[1] as string);
}

/** The text of the section under `heading` (a line `## heading` or deeper), up to the next heading of its level or above. */
export function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^#{2,4} /.test(line) && line.replace(/^#+ /, '').trim() === heading);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const level = /^#+/.exec(lines[start] as string)?.[0].length ?? 2;
  let end = start + 1;
  while (end < lines.length && !(/^#+ /.test(lines[end] as string) && (/^#+/.exec(lines[end] as string)?.[0].length ?? 9) <= level)) end++;
  return lines.slice(start + 1, end).join('\n');
}

/** The rows of the first table whose header's first cell is `firstHeader`, as cells (header and rule left out). */
export function tableRows(text: string, firstHeader: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith('|') && splitRow(line)[0] === firstHeader);
  if (start < 0) throw new Error(`README has no table headed "${firstHeader}"`);
  const rows: string[][] = [];
  for (let index = start + 2; index < lines.length && (lines[index] as string).startsWith('|'); index++) rows.push(splitRow(lines[index] as string));
  return rows;
}

function splitRow(line: string): string[] {
  // A `|` inside a code span (`off\|memory`) is part of the cell.
  return line
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|(?=(?:[^`]*`[^`]*`)*[^`]*$)/)
    .map((cell) => cell.trim());
}

/** The inline code spans of one table cell or line of text. */
export function spansOf(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
}
