// The user guide's chat examples, run as written in Python with `requests`, against the real proxy
// in front of a fake OpenAI upstream. What each example prints is what its reader would see.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { guideText, pythonExamples, pythonHas, pythonScript, READER_SNIPPETS, READER_VARIABLES, runExample, SEED_GUIDE, seedGuideExists } from '../support/usage-guide.js';

const examples = pythonExamples();
const python = pythonHas();
const skip = python ? false : 'python3 with the requests package is not installed here';

function example(heading: string): string {
  const source = examples.get(heading);
  assert.ok(source !== undefined, `USAGE.md has no python example under "${heading}"`);
  return source;
}

test('docs/USAGE.md is the seed guide, unchanged', { skip: seedGuideExists() ? false : 'no shared/seed beside the checkout' }, () => {
  assert.equal(guideText(), readFileSync(SEED_GUIDE, 'utf8'));
});

/** Reads {heading: script} as JSON and prints {heading: [names read but never bound, imported or built in]} for each script with any. */
const UNBOUND_NAMES = `
import ast, builtins, json, sys
found = {}
for heading, script in json.load(sys.stdin).items():
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split('.')[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    if read - bound:
        found[heading] = sorted(read - bound)
print(json.dumps(found))
`;

test('every example, as the tests run it, imports or defines each name it uses', { skip: spawnSync('python3', ['--version']).status === 0 ? false : 'python3 is not installed here' }, () => {
  const scripts = Object.fromEntries([...examples].map(([heading, source]) => [heading, pythonScript((READER_SNIPPETS.includes(heading) ? READER_VARIABLES : '') + source, 8000)]));
  const result = spawnSync('python3', ['-c', UNBOUND_NAMES], { input: JSON.stringify(scripts), encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), {});
});

describe('USAGE.md chat examples', { skip }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let port: number;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${upstream.url}/v1`,
      // Listed from the catalog for the model examples; never called here.
      ANTHROPIC_API_KEY: 'sk-ant-unused-in-this-test-000000',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
    });
    port = Number(new URL(gateway.url).port);
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  async function run(heading: string, extra = ''): Promise<string> {
    const result = await runExample(example(heading) + extra, port);
    assert.equal(result.code, 0, `${heading} failed:\n${result.stderr}`);
    return result.stdout;
  }

  test('Quick Start 1: basic chat completion', async () => {
    const out = await run('1. Basic Chat Completion');
    assert.match(out, /'object': 'chat\.completion'/);
    assert.match(out, /'content': 'Hello from the fake upstream\. You said: Hello! How are you\?'/);
    const sent = upstream.requests.at(-1)?.body;
    assert.equal(sent?.model, 'gpt-3.5-turbo');
    assert.equal(sent?.max_tokens, 100);
    assert.equal(sent?.temperature, 0.7);
  });

  test('Quick Start 3: streaming response', async () => {
    const out = await run('3. Streaming Response');
    assert.equal(out, 'Hello from the fake upstream. You said: Tell me a story');
  });

  test('Authentication', async () => {
    await run('Authentication', '\nprint(response.status_code)');
  });

  test('Simple chat', async () => {
    const out = await run('Simple Chat');
    assert.equal(out.trim(), 'Hello from the fake upstream. You said: Explain quantum computing in simple terms');
  });

  test('Multi-turn conversation', async () => {
    const out = await run('Multi-turn Conversation');
    assert.equal(out.trim(), "Hello from the fake upstream. You said: What's interesting about it?");
    assert.equal((upstream.requests.at(-1)?.body?.messages as unknown[]).length, 4);
  });

  test('Function calling (legacy functions, answered in the legacy shape)', async () => {
    const out = await run('Function Calling');
    assert.match(out, /'function_call': \{'name': 'get_weather', 'arguments': '\{"location":"Tokyo","unit":"celsius"\}'\}/);
    assert.match(out, /'finish_reason': 'function_call'/);
  });

  test('Batch processing', async () => {
    const out = await run('Batch Processing');
    // The guide prints the first 50 characters of each answer.
    assert.equal(out, 'Request 1: Hello from the fake upstream. You said: Summarize ...\nRequest 2: Hello from the fake upstream. You said: Analyze th...\n');
  });

  test('Error handling and retry', async () => {
    const out = await run('Error Handling and Retry');
    assert.equal(out.trim(), 'Hello from the fake upstream. You said: Hello, world!');
  });

  test('Asynchronous processing', { skip: pythonHas('aiohttp') ? false : 'aiohttp is not installed here' }, async () => {
    const out = await run('Asynchronous Processing');
    assert.match(out, /You said: Explain async programming/);
  });

  for (const [heading, said] of [
    ['Content Generation', 'Write a informative blog post about: The Future of AI in Healthcare'],
    ['Code Review Assistant', 'Please review the following python code'],
    ['Data Analysis Assistant', 'Extract key insights and patterns from this dataset description'],
  ] as const) {
    test(`Use case: ${heading}`, async () => {
      const out = await run(heading);
      assert.ok(out.includes(said), out);
    });
  }

  test('Quick Start 2: model discovery', async () => {
    const out = await run('2. Model Discovery');
    const total = /Available models: (\d+)/.exec(out);
    const openai = /OpenAI models: (\d+)/.exec(out);
    assert.ok(total !== null && openai !== null, out);
    assert.ok(Number(openai[1]) > 20 && Number(total[1]) > Number(openai[1]), out);
  });

  test('List available models', async () => {
    const out = await run('List Available Models');
    const [total, chat, vision] = [/Total models: (\d+)/, /Chat models: (\d+)/, /Vision models: (\d+)/].map((pattern) => Number(pattern.exec(out)?.[1]));
    assert.ok((total ?? 0) > 0 && (chat ?? 0) > 0 && (vision ?? 0) > 0 && (chat ?? 0) <= (total ?? 0), out);
  });

  test('Search models', async () => {
    const out = await run('Search Models');
    assert.ok(Number(/GPT-4 models: (\d+)/.exec(out)?.[1]) > 0, out);
    assert.ok(Number(/Advanced search results: (\d+)/.exec(out)?.[1]) > 0, out);
  });

  test('Get model details', async () => {
    const out = await run('Get Model Details');
    assert.equal(out, 'Model: GPT-4\nContext: 8192\nInput cost: $0.03/1K tokens\n');
  });

  test('Web application integration (Flask), its route called through Flask\'s test client', { skip: pythonHas('flask') ? false : 'flask is not installed here' }, async () => {
    // Run as a module, not as __main__, so app.run() does not block; then one request to its route.
    const driver = [
      `namespace = {"__name__": "usage_guide_flask"}`,
      `exec(${JSON.stringify(example('Web Application Integration'))}, namespace)`,
      `reply = namespace["app"].test_client().post("/api/chat", json={"message": "Hello from Flask"})`,
      `print(reply.status_code, json.dumps(reply.get_json(), sort_keys=True))`,
    ].join('\n');
    const result = await runExample(driver, port);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '200 {"response": "Hello from the fake upstream. You said: Hello from Flask", "success": true}\n');
    assert.equal(upstream.requests.at(-1)?.body?.model, 'gpt-3.5-turbo');
  });

  test('Troubleshooting: authentication errors', async () => {
    const out = await run('Authentication Errors');
    assert.match(out, /^Status: 200\nResponse: \{"models":\[/);
  });

  test('Troubleshooting: health checks (no key: /health* is public)', async () => {
    const out = await run('Health Checks');
    assert.match(out, /^API Status: (healthy|degraded)\n/);
    assert.match(out, /\nopenai: \{'status': 'healthy'/);
    assert.match(out, /\nanthropic: \{'status': /);
    assert.match(out, /\nCache status: \{'backend': '\w+', 'status': /);
  });

  // The remaining troubleshooting snippets use the reader's own `url`, `data` and `headers` (and
  // the retry loop's `attempt`): they run here after READER_VARIABLES, which defines them.
  test('Troubleshooting: rate limiting, timeouts and debug mode, with the reader\'s request variables', async () => {
    for (const heading of READER_SNIPPETS) {
      const result = await runExample(READER_VARIABLES + example(heading) + '\nprint(response.status_code)', port);
      assert.equal(result.code, 0, `${heading} failed:\n${result.stderr}`);
      assert.match(result.stdout, /200\n$/, heading);
      if (heading === 'Rate Limiting') assert.match(result.stdout, /^Rate limit remaining: \d+\nRate limit reset: \d+\n/);
      if (heading === 'Debug Mode') assert.match(result.stdout, /Response status: 200\n/);
    }
  });

  test('Troubleshooting: model not found (CONTRACT.md: every route but /health* needs a key, so the snippet\'s keyless call is 401)', async () => {
    const asWritten = await runExample(example('Model Not Found'), port);
    assert.notEqual(asWritten.code, 0);
    assert.match(asWritten.stderr, /KeyError: 'models'/);
    // With the key every other example sends, it lists the models.
    const withKey = example('Model Not Found').replace('requests.get("http://localhost:8000/api/models")', 'requests.get("http://localhost:8000/api/models", headers={"Authorization": "Bearer your-api-key"})');
    const result = await runExample(withKey, port);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Available models: \[.*'gpt-4'/);
  });
});
