// The README's examples, run as a reader runs them: each shell command through bash with curl (and
// the CLI as `llm-proxy`/`npx llm-proxy`), the TypeScript samples through node with the official
// SDKs, the Python ones through python3, against the real proxy (a process, as `npm start` runs it)
// in front of fake OpenAI, Anthropic and Gemini upstreams. Only the address (`localhost:8000` → the
// test's port) differs; `your-api-key` and `$LLM_PROXY_MASTER_KEY` are set up to be valid. Each
// answer is held to what the README shows beside it (`# {...}` after a command, a console block's
// output, a `print(...)  # ...` comment): strings exactly, `…` standing for any text, numbers by type
// (the README's token counts and times are examples), an object without `…` field for field.
// Every example is run or listed in NOT_RUN with the reason: a new one that is neither fails the test.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRecord } from '../../src/json/guards.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { codeSpans, fencedBlocks, readmeText } from '../support/readme.js';
import { pythonHas, runExample } from '../support/usage-guide.js';

const README = readmeText();
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Languages of blocks that hold no command: configuration (readme-contract.test.ts loads every yaml
 * block through the config loader), nginx's, answers (json: held to the proxy's below), the source layout.
 */
const NOT_COMMANDS = new Set(['yaml', 'nginx', 'json', '']);

interface Example {
  /** The first line, spaces squeezed: how NOT_RUN and the runners below name it. */
  name: string;
  lang: string;
  text: string;
  line: number;
}

/** Every fenced block in a language that runs, and every inline `curl …` of the prose. */
function examples(): Example[] {
  const found = fencedBlocks(README)
    .filter((block) => !NOT_COMMANDS.has(block.lang))
    .map((block) => ({ name: nameOf(block.body), lang: block.lang, text: block.body, line: block.line }));
  for (const span of new Set(codeSpans(README).filter((span) => /^(curl|npx llm-proxy|llm-proxy) /.test(span) && span.includes('localhost:8000')))) {
    found.push({ name: nameOf(span), lang: 'bash', text: span, line: README.split('\n').findIndex((line) => line.includes(span)) + 1 });
  }
  return found;
}

function nameOf(text: string): string {
  return (text.trim().split('\n')[0] as string).replace(/\s+/g, ' ').trim();
}

/** The examples that cannot run here, by name, with the reason. */
const NOT_RUN: Record<string, string> = {
  'npm ci && npm start # builds, then listens on http://127.0.0.1:8000 until Ctrl-C':
    'installs the dependencies and serves on port 8000 in the foreground; first-start.test.ts checks the generated key it prints, cli-start.test.ts the start',
  'export OPENAI_API_KEY=sk-... # any provider of the table below': 'needs a real provider key and port 8000; every example here runs on the proxy these variables configure',
  'export ANTHROPIC_BASE_URL=http://localhost:8000 # no /v1': 'runs Claude Code (`claude`), which is not installed here; the /v1/messages examples below are what it calls',
  'response = client.chat.completions.create(':
    "Python's openai package is not installed on the test machines and it needs a real Claude model; src/providers/anthropic/convert-request.test.ts and convert-stream.test.ts hold the thinking fields it sends and reads",
  'from openai import OpenAI':
    "Python's openai package is not installed on the test machines (requests is); anthropic-chat-prompt-cache.test.ts sends the same cache_control request through the Node SDK",
  'client.chat.completions.create(model="mistral/mistral-small-2506", messages=messages,':
    "Python's openai package is not installed on the test machines and `{...}` stands for a schema; openai-family.test.ts sends the same legacy request through the Node SDK to a fake Mistral and reads the function_call back",
  "# OpenRouter's own search tool (OPENROUTER_API_KEY set): at most 2 searches of 3 Exa results each":
    'needs an OpenRouter deployment, which searches the web; openrouter-server-tools.test.ts sends the same request to a fake OpenRouter, checks the tool reaches it unchanged, the hold of its searches and the 400 on another provider',
  "# OpenRouter's fetch tool (OPENROUTER_API_KEY set): at most 3 pages through Exa, from docs.example.com only":
    'needs an OpenRouter deployment, which fetches the page; openrouter-server-tools.test.ts sends web_fetch and datetime to a fake OpenRouter, checks they reach it unchanged, the hold of the fetches, the 400 on a wrong parameter and on another provider',
  'npm test # builds with tsc, then runs every *.test.js with node\'s test runner': 'the whole suite (this test included), the benchmark and the full-size load run',
};

/** The examples run below, by name. */
const QUICK_CHAT = 'curl http://localhost:8000/v1/chat/completions \\';
const QUICK_SDK = "import OpenAI from 'openai';";
const OPENAPI = 'curl -H "Authorization: Bearer your-api-key" localhost:8000/openapi.json';
const EMBEDDINGS = 'curl http://localhost:8000/v1/embeddings \\';
const EMBEDDINGS_SDK = "const { data, usage } = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'Hello' });";
const MESSAGES_SDK = "import Anthropic from '@anthropic-ai/sdk';";
const MESSAGES = 'curl http://localhost:8000/v1/messages -H "x-api-key: your-api-key" -H "content-type: application/json" \\';
const COMPLETIONS_SDK = "const completion = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', max_tokens: 32 });";
const MODEL = 'curl -s http://localhost:8000/v1/models/openai/gpt-4o -H "Authorization: Bearer your-api-key"';
const CATALOG = 'curl -s localhost:8000/api/models -H "Authorization: Bearer your-api-key"';
const CATALOG_PY = 'import requests';
const ADMIN_KEYS = 'curl -s localhost:8000/admin/keys -H "Authorization: Bearer $LLM_PROXY_MASTER_KEY" \\';
const CLI_KEYS = 'llm-proxy keys create --name app --models gpt-4o-mini --rpm 60 --tpm 100000 --budget 25 --period monthly --expires 2030-12-31';
const CONDENSE = 'curl -s localhost:8000/api/condense -H "Authorization: Bearer your-api-key" -H \'Content-Type: application/json\' -d \'{';
const CHECK_CONFIG = '$ npx llm-proxy check-config >/dev/null';
const RELOAD = '$ curl -s -X POST localhost:8000/admin/reload -H "Authorization: Bearer $LLM_PROXY_MASTER_KEY"';
const GEMINI_THINKING = 'curl -s localhost:8000/v1/chat/completions -H "Authorization: Bearer your-api-key" -H \'Content-Type: application/json\' \\';
const GEMINI_GOOGLE = 'curl -s localhost:8000/v1/chat/completions -H "Authorization: Bearer your-api-key" -H \'Content-Type: application/json\' -d \'{';
const CLAUDE_SEARCH = 'curl -s http://localhost:8000/v1/chat/completions -H "Authorization: Bearer your-api-key" -H \'Content-Type: application/json\' \\';
const CLAUDE_EFFORT = 'const thought = await client.chat.completions.create({';
const GEMINI_SEARCH = 'curl -s http://localhost:8000/v1/chat/completions -H "Authorization: Bearer your-api-key" -H \'Content-Type: application/json\' -d \'{';
const REBUILD_ROLLUP = 'llm-proxy usage rebuild-rollup --since 2026-06-01';
const RUN_NAMES = [QUICK_CHAT, QUICK_SDK, OPENAPI, EMBEDDINGS, EMBEDDINGS_SDK, MESSAGES_SDK, MESSAGES, COMPLETIONS_SDK, MODEL, CATALOG, CATALOG_PY, ADMIN_KEYS, CLI_KEYS, CONDENSE, CHECK_CONFIG, RELOAD, GEMINI_THINKING, GEMINI_GOOGLE, GEMINI_SEARCH, CLAUDE_SEARCH, CLAUDE_EFFORT, REBUILD_ROLLUP];

/** One command of a shell block and the answer the README shows for it. */
interface Step {
  command: string;
  shown: string;
}

/** A bash block's commands (quotes and `\` continuations kept whole) with the `# …` lines after each; a console block's `$ ` lines with their output. */
function stepsOf(example: Example): Step[] {
  const steps: Step[] = [];
  if (example.lang === 'console') {
    for (const line of example.text.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), shown: '' });
      else if (steps.length > 0) (steps.at(-1) as Step).shown += `${line}\n`;
    }
    return steps.map((step) => ({ ...step, shown: step.shown.trim() }));
  }
  let command = '';
  let quote: string | undefined;
  for (const line of example.text.split('\n')) {
    if (command === '' && /^\s*#/.test(line)) {
      if (steps.length > 0) (steps.at(-1) as Step).shown += line.replace(/^\s*#\s?/, '');
      continue;
    }
    command += `${line}\n`;
    for (let index = 0; index < line.length; index++) {
      const char = line[index] as string;
      if (quote !== undefined) quote = char === quote ? undefined : quote;
      else if (char === "'" || char === '"') quote = char;
      else if (char === '#' && (index === 0 || /\s/.test(line[index - 1] as string))) break;
    }
    if (quote === undefined && !line.endsWith('\\') && command.trim() !== '') {
      steps.push({ command: command.trim(), shown: '' });
      command = '';
    }
  }
  return steps;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The HTTP status of a curl command's answer (from the .curlrc's write-out), else undefined. */
  status: number | undefined;
}

const STATUS_MARK = '\n@@status ';
/** What the fake OpenAI answers every chat request with: the Quick start's answer. */
const ANSWER = 'Hello! How can I help you today?';

/** An answer the README shows as JSON, `…` standing for text or (as `,…}`) for further fields. */
function illustration(shown: string): unknown {
  return JSON.parse(shown.replace(/,\s*…(?=\s*})/g, ',"…":true'));
}

/** Where `got` departs from the README's `shown`; `loose` paths are checked by type only. */
function departures(shown: unknown, got: unknown, loose: ReadonlySet<string>, path = '', out: string[] = []): string[] {
  const here = path === '' ? '(the answer)' : path;
  if (loose.has(path) || typeof shown === 'number') {
    if (typeof got !== typeof shown) out.push(`${here}: a ${typeof shown} in the README, ${JSON.stringify(got)} here`);
  } else if (typeof shown === 'string') {
    const pattern = new RegExp(`^${shown.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*')}$`);
    if (typeof got !== 'string' || !pattern.test(got)) out.push(`${here}: ${JSON.stringify(shown)} in the README, ${JSON.stringify(got)} here`);
  } else if (Array.isArray(shown)) {
    if (!Array.isArray(got) || got.length !== shown.length) out.push(`${here}: ${shown.length} items in the README, ${JSON.stringify(got)} here`);
    else shown.forEach((item, index) => departures(item, got[index], loose, `${path}[${index}]`, out));
  } else if (isRecord(shown)) {
    if (!isRecord(got)) out.push(`${here}: an object in the README, ${JSON.stringify(got)} here`);
    else {
      const more = Object.hasOwn(shown, '…');
      for (const key of Object.keys(shown)) if (key !== '…') departures(shown[key], got[key], loose, path === '' ? key : `${path}.${key}`, out);
      if (!more) for (const key of Object.keys(got)) if (!Object.hasOwn(shown, key)) out.push(`${here}: "${key}" is not in the README's answer`);
    }
  } else if (shown !== got) out.push(`${here}: ${JSON.stringify(shown)} in the README, ${JSON.stringify(got)} here`);
  return out;
}

function spawnText(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const all = examples();
const byName = new Map(all.map((example) => [example.name, example]));

function example(name: string): Example {
  const found = byName.get(name);
  assert.ok(found !== undefined, `the README has no example starting "${name}"`);
  return found;
}

// The README's commands need bash and curl; a machine without curl skips them (CI must have it).
const skip = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0 || process.env.CI === 'true' ? false : 'curl is not installed here';

describe('README examples, run as written', { skip }, () => {
  let openai: FakeOpenAi;
  let anthropic: FakeAnthropic;
  let gemini: FakeGemini;
  let gateway: GatewayProcess;
  /** Where the proxy and the commands run: config.yaml, the CLI's shim, curl's .curlrc. Under the checkout, so `npx llm-proxy` finds this package. */
  let work: string;
  let commandEnv: NodeJS.ProcessEnv;
  const ran = new Set<string>();

  const CONFIG = 'routing:\n  discovery_interval_s: 0\n';

  before(async () => {
    [openai, anthropic, gemini] = await Promise.all([startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => ANSWER }), startFakeAnthropic(), startFakeGemini()]);
    work = mkdtempSync(join(ROOT, 'dist', 'readme-examples-'));
    writeFileSync(join(work, 'config.yaml'), CONFIG);
    // The HTTP status of every curl answer, without touching the commands.
    writeFileSync(join(work, '.curlrc'), `write-out = "${STATUS_MARK.replace('\n', '\\n')}%{http_code}\\n"\nmax-time = 20\n`);
    writeFileSync(join(work, 'llm-proxy'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist', 'src', 'cli.js')}" "$@"\n`, { mode: 0o755 });
    gateway = await startGatewayProcess(
      {
        LLM_PROXY_CONFIG: 'config.yaml',
        LLM_PROXY_API_KEYS: CLIENT_KEY,
        LLM_PROXY_MASTER_KEY: MASTER_KEY,
        OPENAI_API_KEY: UPSTREAM_KEY,
        OPENAI_BASE_URL: `${openai.url}/v1`,
        ANTHROPIC_API_KEY: UPSTREAM_KEY,
        ANTHROPIC_BASE_URL: anthropic.url,
        GEMINI_API_KEY: UPSTREAM_KEY,
        GEMINI_BASE_URL: gemini.url,
      },
      CONFIG,
      [],
      join(ROOT, 'dist', 'src', 'main.js'),
      [],
      { cwd: work },
    );
    commandEnv = {
      PATH: `${work}:${process.env.PATH ?? ''}`,
      HOME: work,
      CURL_HOME: work,
      LLM_PROXY_MASTER_KEY: MASTER_KEY,
      LLM_PROXY_DB: gateway.dbPath,
      // `npx llm-proxy` is this package's own bin; never a download.
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
    };
  });
  after(async () => {
    await gateway?.cleanup();
    await Promise.all([openai?.close(), anthropic?.close(), gemini?.close()]);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  async function shell(command: string, env: NodeJS.ProcessEnv = commandEnv, cwd = work): Promise<Ran> {
    const result = await spawnText('bash', ['-c', command.replaceAll('localhost:8000', `localhost:${gateway.port}`)], { cwd, env });
    const mark = result.stdout.lastIndexOf(STATUS_MARK);
    if (mark < 0) return { ...result, status: undefined };
    return { ...result, stdout: result.stdout.slice(0, mark), status: Number(result.stdout.slice(mark + STATUS_MARK.length).trim()) };
  }

  /** Runs a step and holds its answer to what the README shows: a 2xx (or the `→ NNN` shown), then the JSON or text. */
  async function runStep(step: Step, loose: ReadonlySet<string> = new Set()): Promise<Ran> {
    const result = await shell(step.command);
    const context = `${step.command}\n→ ${result.status ?? ''} ${result.stdout}\n${result.stderr}`;
    assert.equal(result.code, 0, context);
    const statusShown = /^→ (\d{3}) /.exec(step.shown);
    const shown = step.shown.replace(/^→ \d{3} /, '');
    if (result.status !== undefined) {
      if (statusShown !== null) assert.equal(result.status, Number(statusShown[1]), context);
      else if (!shown.startsWith('{"error"')) assert.ok(result.status >= 200 && result.status < 300, context);
    }
    if (shown.startsWith('{')) assert.deepEqual(departures(illustration(shown), JSON.parse(result.stdout), loose), [], context);
    else if (shown !== '') assert.equal(`${result.stdout}${result.stderr}`.trim(), shown, context);
    return result;
  }

  /** A JavaScript sample (the README's TypeScript has no types), as an ES module from the checkout, so its imports resolve. */
  async function runScript(source: string): Promise<string> {
    const result = await spawnText(process.execPath, ['--input-type=module', '--eval', source.replaceAll('localhost:8000', `localhost:${gateway.port}`)], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } });
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  }

  function run(name: string): Example {
    ran.add(name);
    return example(name);
  }

  test('every example is run below or listed in NOT_RUN with its reason, and each name is a README example', () => {
    const named = new Set([...Object.keys(NOT_RUN), ...RUN_NAMES]);
    const unchecked = all.filter((candidate) => !named.has(candidate.name)).map((candidate) => `README line ${candidate.line} (${candidate.lang}): ${candidate.name}`);
    assert.deepEqual(unchecked, [], 'an example neither run by this test nor listed in NOT_RUN with the reason');
    for (const name of named) assert.ok(byName.has(name), `"${name}" is no longer a README example`);
    assert.equal(byName.size, all.length, 'each example starts with a line of its own');
    for (const candidate of all) assert.ok(['bash', 'console', 'ts', 'python'].includes(candidate.lang), `README line ${candidate.line}: a \`${candidate.lang}\` block`);
  });


  /** The Quick start's client, for the samples that go on from it (`client.embeddings…`, `client.completions…`). */
  const quickClient = () => run(QUICK_SDK).text.split('\n').slice(0, 2).join('\n');

  test('Quick start: the chat request and the streaming SDK sample', async () => {
    const steps = stepsOf(run(QUICK_CHAT));
    assert.equal(steps.length, 1);
    assert.ok((steps[0] as Step).shown.startsWith('{'), 'the README shows the answer');
    await runStep(steps[0] as Step);
    assert.equal(await runScript(run(QUICK_SDK).text), ANSWER);
  });

  test('the API reference, fetched with a key', async () => {
    const [step] = stepsOf(run(OPENAPI));
    const doc = JSON.parse((await runStep(step as Step)).stdout) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/v1/chat/completions'] !== undefined);
  });

  test('embeddings: curl and the SDK', async () => {
    const [step] = stepsOf(run(EMBEDDINGS));
    const answer = JSON.parse((await runStep(step as Step)).stdout) as { object: string; data: Array<{ object: string; index: number; embedding: number[] }>; usage: { prompt_tokens: number } };
    assert.equal(answer.object, 'list');
    assert.deepEqual(answer.data.map((item) => [item.object, item.index, typeof item.embedding[0]]), [['embedding', 0, 'number'], ['embedding', 1, 'number']]);
    assert.equal(typeof answer.usage.prompt_tokens, 'number');
    const printed = await runScript(`${quickClient()}\n${run(EMBEDDINGS_SDK).text}\nconsole.log(JSON.stringify({ length: data[0].embedding.length, usage }));`);
    const { length, usage } = JSON.parse(printed) as { length: number; usage: { prompt_tokens: number } };
    assert.ok(length > 0 && usage.prompt_tokens > 0, printed);
  });

  test('Gemini: reasoning_effort none turns 2.5 Flash\'s thinking off', async () => {
    const [step] = stepsOf(run(GEMINI_THINKING));
    const from = gemini.requests.length;
    await runStep(step as Step);
    const sent = gemini.requests.slice(from).find((request) => request.model === 'gemini-2.5-flash');
    assert.deepEqual((sent?.body as { generationConfig?: unknown } | undefined)?.generationConfig, { thinkingConfig: { thinkingBudget: 0 } });
  });

  test("Gemini: Google's extra_body.google thinking_config is sent as Gemini's, and the thought summary comes back as reasoning_content", async () => {
    const [step] = stepsOf(run(GEMINI_GOOGLE));
    const from = gemini.requests.length;
    gemini.respondWith('thoughts');
    try {
      const answer = JSON.parse((await runStep(step as Step)).stdout) as { choices: Array<{ message: { content: string; reasoning_content?: string } }> };
      assert.equal(answer.choices[0]?.message.content, 'Yes, 1009 is prime.');
      assert.match(answer.choices[0]?.message.reasoning_content ?? '', /^\*\*Checking divisibility\*\*/);
    } finally {
      gemini.respondWith('text');
    }
    const sent = gemini.requests.slice(from).find((request) => request.model === 'gemini-2.5-flash');
    assert.deepEqual((sent?.body as { generationConfig?: unknown } | undefined)?.generationConfig, { thinkingConfig: { thinkingBudget: 800, includeThoughts: true } });
  });

  test('Gemini: web_search_options is Grounding with Google Search, and the sources come back as annotations', async () => {
    const [step] = stepsOf(run(GEMINI_SEARCH));
    const from = gemini.requests.length;
    gemini.respondWith('grounding');
    try {
      const answer = JSON.parse((await runStep(step as Step)).stdout) as { choices: Array<{ message: { annotations?: Array<{ type: string; url_citation: { start_index: number; end_index: number } }> } }>; usage: { server_tool_use?: unknown } };
      assert.deepEqual(answer.choices[0]?.message.annotations?.[0]?.url_citation.start_index, 0);
      assert.deepEqual(answer.choices[0]?.message.annotations?.[0]?.url_citation.end_index, 56);
      assert.deepEqual(answer.usage.server_tool_use, { web_search_requests: 2 });
    } finally {
      gemini.respondWith('text');
    }
    const sent = gemini.requests.slice(from).find((request) => request.model === 'gemini-2.5-flash');
    assert.deepEqual((sent?.body as { tools?: unknown } | undefined)?.tools, [{ googleSearch: {} }]);
  });

  test("Claude: web_search_options is Claude's web search tool, and the citations come back as annotations", async () => {
    const [step] = stepsOf(run(CLAUDE_SEARCH));
    const from = anthropic.requests.length;
    anthropic.respondWith('web-search');
    try {
      const answer = JSON.parse((await runStep(step as Step)).stdout) as { choices: Array<{ message: { annotations?: Array<{ type: string; url_citation: { url: string } }> } }>; usage: { server_tool_use?: unknown } };
      assert.deepEqual(answer.choices[0]?.message.annotations?.map((annotation) => [annotation.type, annotation.url_citation.url]), [['url_citation', 'https://weather.example.com/paris']]);
      assert.deepEqual(answer.usage.server_tool_use, { web_search_requests: 2 });
    } finally {
      anthropic.respondWith('text');
    }
    const sent = anthropic.requests.slice(from).find((request) => (request.body as { model?: string } | undefined)?.model === 'claude-sonnet-4-5');
    assert.deepEqual((sent?.body as { tools?: unknown } | undefined)?.tools, [{ type: 'web_search_20250305', name: 'web_search', max_uses: 1 }]);
  });

  test("Claude: reasoning_effort low is adaptive thinking at effort low on Opus 4.7", async () => {
    const from = anthropic.requests.length;
    const printed = await runScript(`${quickClient()}\n${run(CLAUDE_EFFORT).text}\nconsole.log(thought.choices[0].message.content);`);
    assert.ok(printed.length > 0, 'the answer is printed');
    const sent = anthropic.requests.slice(from).find((request) => (request.body as { model?: string } | undefined)?.model === 'claude-opus-4-7');
    const body = sent?.body as { thinking?: unknown; output_config?: unknown } | undefined;
    assert.deepEqual([body?.thinking, body?.output_config], [{ type: 'adaptive' }, { effort: 'low' }]);
  });

  test('Anthropic Messages API: the SDK sample (gpt-4o, a gemini-2.5-flash stream, count_tokens) and curl with x-api-key', async () => {
    const printed = await runScript(`${run(MESSAGES_SDK).text}\nconsole.log('\\n' + JSON.stringify({ message, input_tokens }));`);
    const [streamed, last] = [printed.slice(0, printed.lastIndexOf('\n{')), printed.slice(printed.lastIndexOf('\n{') + 1)];
    assert.ok(streamed.length > 0, `the stream wrote text: ${printed}`);
    const { message, input_tokens } = JSON.parse(last) as { message: { type: string; model: string; content: Array<{ type: string; text: string }> }; input_tokens: number };
    assert.equal(message.type, 'message');
    assert.equal(message.content[0]?.text, ANSWER);
    assert.ok(input_tokens > 0);
    const [step] = stepsOf(run(MESSAGES));
    const answer = JSON.parse((await runStep(step as Step)).stdout) as { type: string; content: Array<{ text: string }>; stop_reason: string };
    assert.deepEqual([answer.type, answer.content[0]?.text, answer.stop_reason], ['message', ANSWER, 'end_turn']);
  });

  test('legacy completions through the SDK', async () => {
    const printed = await runScript(`${quickClient()}\n${run(COMPLETIONS_SDK).text}\nconsole.log(JSON.stringify(completion));`);
    const completion = JSON.parse(printed) as { object: string; choices: Array<{ text: string }> };
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.choices[0]?.text, 'Hello from the fake upstream.');
  });

  test('the model catalog: /v1/models/{id}, /api/models, search, one model, and the Python sample', async (t) => {
    for (const step of stepsOf(run(MODEL))) await runStep(step);
    const [list, claude, vision, one] = stepsOf(run(CATALOG));
    assert.ok(one !== undefined);
    const models = (answer: Ran) => (JSON.parse(answer.stdout) as { models: Array<{ id: string; provider: string; capabilities: string[]; context_length: number | null }> }).models;
    assert.ok(models(await runStep(list as Step)).length > 100);
    const claudes = models(await runStep(claude as Step));
    assert.ok(claudes.length > 0 && claudes.every((model) => model.provider === 'anthropic' && /claude/i.test(model.id) && (model.context_length ?? 0) >= 100_000), JSON.stringify(claudes.map((model) => model.id)));
    const cheapVision = models(await runStep(vision as Step));
    assert.ok(cheapVision.length === 5 && cheapVision.every((model) => model.capabilities.includes('vision') && model.capabilities.includes('function_calling')));
    assert.equal((JSON.parse((await runStep(one)).stdout) as { model: { id: string } }).model.id, 'gpt-4o');

    const python = run(CATALOG_PY).text;
    if (!pythonHas()) {
      t.diagnostic('no python3 with requests here: the Python sample was not run');
      return;
    }
    const shown = [...python.matchAll(/^print\(.*\)\s+#\s*(.*)$/gm)].map((match) => match[1]).join('\n');
    const result = await runExample(python, gateway.port);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), shown);
  });

  test('virtual keys: the admin API and the CLI, against the same database', async () => {
    const [create] = stepsOf(run(ADMIN_KEYS));
    // The answer's id, key and prefix are made anew for each key.
    const created = JSON.parse((await runStep(create as Step, new Set(['id', 'key', 'prefix']))).stdout) as { id: string; key: string };
    assert.match(created.key, new RegExp(`^sk-gw_${created.id}_`));

    const steps = stepsOf(run(CLI_KEYS));
    assert.deepEqual(steps.map((step) => step.command.replace(/\s+#.*/, '').split(/\s+/).slice(0, 3).join(' ')), [CLI_KEYS.split(' ').slice(0, 3).join(' '), 'llm-proxy keys list', 'llm-proxy keys revoke', 'llm-proxy start']);
    const made = JSON.parse((await runStep(steps[0] as Step)).stdout) as { id: string; key: string; name: string; expires_at: string };
    assert.equal(made.name, 'app');
    assert.equal(made.expires_at, '2030-12-31T00:00:00.000Z');
    // The key the CLI made works on the running proxy at once.
    const chat = (key: string) => shell(`curl -s localhost:8000/v1/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'`);
    assert.equal((await chat(made.key)).status, 200);
    // `[--json]` is the usage's optional flag: both forms.
    for (const command of [steps[1]?.command.replace(' [--json]', ''), steps[1]?.command.replace('[--json]', '--json')]) {
      const listed = await runStep({ command: command as string, shown: '' });
      assert.ok(listed.stdout.includes(made.id), listed.stdout);
    }
    await runStep({ command: (steps[2] as Step).command.replace('<id>', made.id), shown: '' });
    // Revoked by another process: the proxy learns of it within about a second (its check of the database).
    let answer = '';
    for (const deadline = Date.now() + 5_000; !answer.includes('key_revoked') && Date.now() < deadline; await sleep(200)) answer = (await chat(made.key)).stdout;
    assert.match(answer, /key_revoked/);
    // `llm-proxy start` serves on port 8000 until stopped: cli-start.test.ts runs it.
  });

  test('usage rebuild-rollup, against the running proxy’s database', async () => {
    // A record of today, written (GET /admin/usage writes what the proxy holds first).
    await shell('curl -s localhost:8000/v1/chat/completions -H "Authorization: Bearer $LLM_PROXY_MASTER_KEY" -H "Content-Type: application/json" -d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}\'');
    await shell('curl -s localhost:8000/admin/usage -H "Authorization: Bearer $LLM_PROXY_MASTER_KEY"');
    const [step] = stepsOf(run(REBUILD_ROLLUP));
    const result = await shell((step as Step).command);
    assert.equal(result.code, 0, result.stderr);
    // The days and rows are this database's (one of each, maybe); the line is the README's, up to today.
    const shape = (text: string) => text.replace(/\d{4}-\d{2}-\d{2}/g, 'DAY').replace(/\d+ (day|row)s?\b/g, 'N $1s');
    assert.equal(shape(result.stdout.trim()), shape((step as Step).shown));
    assert.ok(result.stdout.includes(`to ${new Date().toISOString().slice(0, 10)})`), result.stdout);
  });

  test('context condensation', async () => {
    const [step] = stepsOf(run(CONDENSE));
    // The summariser is the cheapest routable chat model: gpt-4.1-nano for a proxy with OpenAI alone,
    // a Gemini model here; how the tokens were counted follows the model.
    await runStep(step as Step, new Set(['model', 'token_count']));
  });

  test('check-config names a condense.model that routes nowhere', async () => {
    const dir = mkdtempSync(join(work, 'check-config-'));
    writeFileSync(join(dir, 'config.yaml'), 'condense:\n  model: gpt-4o-mni\n');
    const [step] = stepsOf(run(CHECK_CONFIG));
    const result = await shell((step as Step).command, { ...commandEnv, LLM_PROXY_CONFIG: 'config.yaml', OPENAI_API_KEY: 'sk-dummy' }, dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.trim(), (step as Step).shown);
  });

  test('a reload, then one the new config refuses', async () => {
    const [reloaded, refused] = stepsOf(run(RELOAD));
    await runStep(reloaded as Step);
    writeFileSync(join(work, 'config.yaml'), `${CONFIG}limits:\n  default_rpm: many\n`);
    const result = await shell((refused as Step).command);
    assert.equal(result.status, 400);
    assert.deepEqual(departures(illustration((refused as Step).shown), JSON.parse(result.stdout), new Set()), [], result.stdout);
    writeFileSync(join(work, 'config.yaml'), CONFIG);
  });

  test("the error example is the proxy's answer to a model it does not serve", async () => {
    const answers = fencedBlocks(README).filter((block) => block.lang === 'json');
    assert.ok(answers.length > 0);
    for (const block of answers) {
      const shown = JSON.parse(block.body) as { error?: { code?: string; message?: string } };
      const model = /^The model '([^']+)' does not exist/.exec(shown.error?.message ?? '')?.[1];
      assert.ok(shown.error?.code === 'model_not_found' && model !== undefined, `README line ${block.line}: an answer this test does not know the request of`);
      const result = await shell(`curl -s localhost:8000/v1/chat/completions -H "Authorization: Bearer your-api-key" -H "Content-Type: application/json" -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hi"}]}'`);
      assert.equal(result.status, 404);
      assert.deepEqual(JSON.parse(result.stdout), shown);
    }
  });

  test('each runner above ran its examples', () => {
    assert.deepEqual(RUN_NAMES.filter((name) => !ran.has(name)), []);
  });
});
