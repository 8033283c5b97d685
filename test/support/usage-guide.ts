// Reads the user guide's Python examples (docs/USAGE.md, a copy of the seed guide) so tests can run
// them exactly as written, against a proxy on a test port, with the real `requests` library.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const GUIDE = fileURLToPath(new URL('../../../docs/USAGE.md', import.meta.url));
/** The steering copy beside the checkout, when there is one: the copy must not drift from it. */
export const SEED_GUIDE = fileURLToPath(new URL('../../../../shared/seed/USAGE.md', import.meta.url));

export function guideText(): string {
  return readFileSync(GUIDE, 'utf8');
}

/** Top-level ```python blocks, keyed by the heading above them. Fences indented in lists are skipped. */
export function pythonExamples(text = guideText()): Map<string, string> {
  const examples = new Map<string, string>();
  let heading = '';
  let block: string[] | undefined;
  for (const line of text.split('\n')) {
    if (block !== undefined) {
      if (line.trimEnd() === '```') {
        if (!examples.has(heading)) examples.set(heading, block.join('\n'));
        block = undefined;
      } else block.push(line);
      continue;
    }
    if (line.startsWith('```python')) block = [];
    else if (/^#{2,4} /.test(line)) heading = line.replace(/^#+ /, '').trim();
  }
  return examples;
}

/**
 * The Best Practices examples, fenced inside numbered list items, keyed `Section / Item`
 * (`API Usage / Error Handling`), with the list's indentation taken off.
 */
export function listedExamples(text = guideText()): Map<string, string> {
  const examples = new Map<string, string>();
  let heading = '';
  let item = '';
  let block: string[] | undefined;
  let indent = '';
  for (const line of text.split('\n')) {
    if (block !== undefined) {
      if (line.trimEnd() === `${indent}\`\`\``) {
        examples.set(`${heading} / ${item}`, block.join('\n'));
        block = undefined;
      } else block.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
      continue;
    }
    const fence = /^( +)```python/.exec(line);
    if (fence !== null) {
      indent = fence[1] as string;
      block = [];
    } else if (/^#{2,4} /.test(line)) heading = line.replace(/^#+ /, '').trim();
    else if (/^\d+\. \*\*/.test(line)) item = line.replace(/^\d+\. \*\*([^*]+)\*\*.*$/, '$1');
  }
  return examples;
}

// The first interpreter on PATH, then Debian's own: `.ci/run` installs the guide's modules
// (python3-requests, python3-aiohttp) for Debian's python3, which a pyenv python3 on PATH does not see.
const PYTHONS = ['python3', '/usr/bin/python3'];
const pythonsFor = new Map<string, string | undefined>();

/** The first interpreter that imports `requests` and `modules`, or undefined when none here does. */
function pythonFor(modules: readonly string[]): string | undefined {
  const wanted = ['requests', ...modules];
  const key = wanted.join(',');
  if (!pythonsFor.has(key)) {
    const imports = wanted.map((module) => `import ${module}`).join('; ');
    pythonsFor.set(key, PYTHONS.find((python) => spawnSync(python, ['-c', imports], { stdio: 'ignore' }).status === 0));
  }
  return pythonsFor.get(key);
}

/** Whether a Python with `requests` (and optionally other modules) can run here. */
export function pythonHas(...modules: string[]): boolean {
  return pythonFor(modules) !== undefined;
}

export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunExampleOptions {
  /** Puts this model in place of the guide's `"gpt-4"` and `"gpt-3.5-turbo"` string literals. */
  model?: string;
  /** Directories Python imports from first (stand-ins for a chat platform's SDK). */
  pythonPath?: string;
}

/**
 * Variables the troubleshooting snippets take from the reader's own code (`url`, `headers`, `data`,
 * and the retry loop's `attempt`), defined ahead of those snippets.
 */
export const READER_VARIABLES = [
  'url = "http://localhost:8000/v1/chat/completions"',
  'headers = {"Authorization": "Bearer your-api-key", "Content-Type": "application/json"}',
  'data = {"model": "gpt-4", "messages": [{"role": "user", "content": "Hello"}]}',
  'attempt = 0',
  '',
].join('\n');
/** The snippets that run after READER_VARIABLES. */
export const READER_SNIPPETS: readonly string[] = ['Rate Limiting', 'Timeout Issues', 'Debug Mode'];

/**
 * The script that runs one example: unchanged but for the proxy's address (`localhost:8000` → the
 * test port), and the model names when `options.model` is given. The guide's snippets assume the
 * modules they use are imported: `json`, `time`, `asyncio` and `requests` always, and `aiohttp`
 * where a snippet names it (not every machine has it).
 */
export function pythonScript(source: string, port: number, options: RunExampleOptions = {}): string {
  let code = source.replaceAll('localhost:8000', `127.0.0.1:${port}`);
  if (options.model !== undefined) code = code.replace(/"(gpt-4|gpt-3\.5-turbo)"/g, JSON.stringify(options.model));
  return `import ${[...STANDARD_IMPORTS, ...guideModules(code)].join(', ')}\n${code}\n`;
}

const STANDARD_IMPORTS = ['json', 'time', 'asyncio'];
/** The installed modules a script needs: `requests` always, `aiohttp` where it is named. */
function guideModules(code: string): string[] {
  return ['requests', ...(/\baiohttp\./.test(code) ? ['aiohttp'] : [])];
}

/** Runs one example as pythonScript writes it. */
export function runExample(source: string, port: number, timeoutMs = 20_000, options: RunExampleOptions = {}): Promise<PythonRun> {
  const script = pythonScript(source, port, options);
  return new Promise((resolve) => {
    const env = options.pythonPath === undefined ? process.env : { ...process.env, PYTHONPATH: options.pythonPath };
    const child = spawn(pythonFor(guideModules(script).slice(1)) ?? 'python3', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function seedGuideExists(): boolean {
  return existsSync(SEED_GUIDE);
}
