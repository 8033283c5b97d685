// The user guide's remaining examples (docs/USAGE.md): the Best Practices snippets, fenced inside
// numbered lists, and the Discord and Slack bots. Each runs as written in Python against the real
// proxy in front of a fake OpenAI upstream. The snippets use names the reader's own code defines
// (`url`, `headers`, `messages`, a `cache`, `process_single_request`): each runs after a prelude that
// defines them, as the troubleshooting snippets do. The bots run with small stand-ins for the
// discord.py and slack_bolt packages (no network, no accounts) that hand the test their handlers.
// Last, an index: every example of the guide is run by some test, so a new one cannot go unrun.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { listedExamples, pythonExamples, pythonHas, READER_VARIABLES, runExample, type RunExampleOptions } from '../support/usage-guide.js';

const listed = listedExamples();
const examples = pythonExamples();
const skip = pythonHas() ? false : 'python3 with the requests package is not installed here';
const ANSWER = 'Hello from the fake upstream. You said:';

function guide(map: Map<string, string>, heading: string): string {
  const source = map.get(heading);
  assert.ok(source !== undefined, `USAGE.md has no python example under "${heading}"`);
  return source;
}

/** The guide's Simple Chat `chat_completion` and List Available Models `get_available_models`, without their usage lines. */
function definitionOf(heading: string): string {
  return guide(examples, heading).split('\n# Usage')[0]?.split('\n# Get all models')[0] as string;
}

/** Stand-in packages: discord.py's Bot, Intents and Embed, and slack_bolt's App and SocketModeHandler, recording what the bots do. */
const STAND_INS: Readonly<Record<string, string>> = {
  'discord/__init__.py': `
class Intents:
    @classmethod
    def default(cls):
        return cls()

class Embed:
    def __init__(self, title=None, description=None):
        self.title, self.description, self.fields = title, description, []
    def add_field(self, name, value, inline=True):
        self.fields.append({"name": name, "value": value, "inline": inline})
`,
  'discord/ext/__init__.py': '',
  'discord/ext/commands.py': `
class Bot:
    def __init__(self, command_prefix, intents):
        self.commands, self.token = {}, None
    def command(self, name):
        def register(function):
            self.commands[name] = function
            return function
        return register
    def run(self, token):
        self.token = token
`,
  'slack_bolt/__init__.py': `
class App:
    def __init__(self, token):
        self.token, self.events, self.commands = token, {}, {}
    def event(self, name):
        def register(function):
            self.events[name] = function
            return function
        return register
    def command(self, name):
        def register(function):
            self.commands[name] = function
            return function
        return register
`,
  'slack_bolt/adapter/__init__.py': '',
  'slack_bolt/adapter/socket_mode/__init__.py': `
class SocketModeHandler:
    def __init__(self, app, token):
        raise RuntimeError("the guide starts Socket Mode only as __main__")
`,
};

describe('USAGE.md Best Practices and bot examples', { skip }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let port: number;
  let standIns: string;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1` });
    port = Number(new URL(gateway.url).port);
    standIns = mkdtempSync(join(tmpdir(), 'llm-proxy-guide-'));
    for (const [file, source] of Object.entries(STAND_INS)) {
      mkdirSync(dirname(join(standIns, file)), { recursive: true });
      writeFileSync(join(standIns, file), source);
    }
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
    rmSync(standIns, { recursive: true, force: true });
  });

  async function run(source: string, options: RunExampleOptions = {}): Promise<string> {
    const result = await runExample(source, port, 20_000, options);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  }

  /** Chat bodies the upstream received since `from`. */
  function chatsSince(from: number): Array<Record<string, unknown>> {
    return upstream.requests.slice(from).flatMap((request) => (request.path.endsWith('/chat/completions') && request.body !== undefined ? [request.body] : []));
  }

  test('API Usage, Error Handling: the request, checked and parsed', async () => {
    const out = await run(`${READER_VARIABLES}${guide(listed, 'API Usage / Error Handling')}\nprint(result["choices"][0]["message"]["content"])`);
    assert.equal(out, `${ANSWER} Hello\n`);
  });

  test('API Usage, Rate Limiting: the client-side limiter lets the request through and counts it', async () => {
    const out = await run(`${READER_VARIABLES}${guide(listed, 'API Usage / Rate Limiting')}\nprint(response.status_code, len(rate_limiter.requests))`);
    assert.equal(out, '200 1\n');
  });

  test('API Usage, Request Optimization: every parameter it sets is taken and reaches the provider', async () => {
    const from = upstream.requests.length;
    const reader = 'messages = data["messages"]\nestimated_tokens = 100\n';
    const send = '\nresponse = requests.post(url, json=optimized_request, headers=headers)\nprint(response.status_code, response.json()["choices"][0]["message"]["content"])';
    const out = await run(`${READER_VARIABLES}${reader}${guide(listed, 'API Usage / Request Optimization')}${send}`);
    assert.equal(out, `200 ${ANSWER} Hello\n`);
    const [sent] = chatsSince(from);
    assert.deepEqual(
      [sent?.model, sent?.max_tokens, sent?.temperature, sent?.top_p, sent?.frequency_penalty, sent?.presence_penalty, sent?.stop],
      ['gpt-3.5-turbo', 120, 0.7, 0.9, 0.1, 0.1, ['\n\n', '###']],
    );
  });

  test('Performance Optimization, Caching Strategy: the second identical call is answered from the reader\'s cache', async () => {
    const from = upstream.requests.length;
    const cache = ['class Cache:', '    def __init__(self): self.entries = {}', '    def get(self, key): return self.entries.get(key)', '    def set(self, key, value, ttl): self.entries[key] = value', 'cache = Cache()', ''].join('\n');
    const calls = '\nfirst = cached_completion("What is caching?")\nsecond = cached_completion("What is caching?")\nprint(first is second, first["choices"][0]["message"]["content"])';
    const out = await run(`${definitionOf('Simple Chat')}\n${cache}${guide(listed, 'Performance Optimization / Caching Strategy')}${calls}`);
    assert.equal(out, `True ${ANSWER} What is caching?\n`);
    assert.equal(chatsSince(from).length, 1);
  });

  test('Performance Optimization, Batch Processing: batches run concurrently, answers in order', async () => {
    const reader = [
      'from concurrent.futures import ThreadPoolExecutor',
      'def process_single_request(message):',
      '    reply = requests.post(url, json={"model": "gpt-4", "messages": [{"role": "user", "content": message}]}, headers=headers)',
      '    return reply.json()["choices"][0]["message"]["content"]',
      '',
    ].join('\n');
    const out = await run(`${READER_VARIABLES}${reader}${guide(listed, 'Performance Optimization / Batch Processing')}\nprint("\\n".join(batch_process(["one", "two", "three"], batch_size=2)))`);
    assert.equal(out, `${ANSWER} one\n${ANSWER} two\n${ANSWER} three\n`);
  });

  test('Performance Optimization, Connection Reuse: one session, its requests answered', async () => {
    const out = await run(`${READER_VARIABLES}${guide(listed, 'Performance Optimization / Connection Reuse')}\nfor _ in range(2): print(make_request(url, data)["choices"][0]["message"]["content"])`);
    assert.equal(out, `${ANSWER} Hello\n${ANSWER} Hello\n`);
  });

  test('Cost Optimization, Model Selection: as written it iterates the dict\'s keys; over its "models" it picks the cheapest chat model', async () => {
    const definitions = `${definitionOf('List Available Models')}\n${guide(listed, 'Cost Optimization / Model Selection')}`;
    const asWritten = await runExample(`${definitions}\nselect_model({})`, port);
    assert.notEqual(asWritten.code, 0);
    assert.match(asWritten.stderr, /TypeError: string indices must be integers/);
    // get_available_models() as the list it is read as: the answer's "models".
    const asMeant = definitions.replace('models = get_available_models()', 'models = get_available_models()["models"]');
    const out = await run(`${asMeant}\nchosen = select_model({"min_context": 100000})\nprint(chosen["id"], chosen["context_length"] >= 100000, chosen["input_cost"] + chosen["output_cost"])`);
    const [id, fits, cost] = out.trim().split(' ');
    assert.equal(fits, 'True', out);
    const { models } = (await (await fetch(`${gateway.url}/api/models/search?supports_chat=true&min_context=100000&sort=cost&limit=1`, { headers: { authorization: 'Bearer your-api-key' } })).json()) as { models: Array<{ id: string; input_cost: number; output_cost: number }> };
    assert.equal(Number(cost), (models[0]?.input_cost ?? 0) + (models[0]?.output_cost ?? 0), `${id} is as cheap as ${models[0]?.id}`);
  });

  test('Cost Optimization, Token Optimization: a short prompt stays; a long one is summarised by the reader\'s chat_completion(messages, max_tokens)', async () => {
    const from = upstream.requests.length;
    const reader = [
      'def chat_completion(messages, max_tokens=150):',
      '    return requests.post(url, json={"model": "gpt-4", "messages": messages, "max_tokens": max_tokens}, headers=headers).json()',
      '',
    ].join('\n');
    const calls = '\nprint(optimize_prompt("Short prompt."))\nprint(optimize_prompt("word " * 400, max_tokens=400))';
    const out = await run(`${READER_VARIABLES}${reader}${guide(listed, 'Cost Optimization / Token Optimization')}${calls}`);
    assert.match(out, new RegExp(`^Short prompt\\.\\n${ANSWER} Summarize the following text in 100 words or less:`));
    const [sent] = chatsSince(from);
    assert.equal(sent?.max_tokens, 100);
  });

  test('Discord Bot Integration: !ask answers through the proxy, !models lists the catalog', async () => {
    const driver = [
      `exec(${JSON.stringify(guide(examples, 'Discord Bot Integration'))}, globals())`,
      'class Context:',
      '    def __init__(self): self.sent = []',
      '    def typing(self):',
      '        class Typing:',
      '            async def __aenter__(self): return self',
      '            async def __aexit__(self, *exc): return False',
      '        return Typing()',
      '    async def send(self, content=None, embed=None): self.sent.append(content if embed is None else embed)',
      'ask_ctx, models_ctx = Context(), Context()',
      'asyncio.run(bot.commands["ask"](ask_ctx, question="Hello from Discord"))',
      'asyncio.run(bot.commands["models"](models_ctx))',
      'embed = models_ctx.sent[0]',
      'print(bot.token)',
      'print(ask_ctx.sent[0])',
      'print(embed.title, "|", embed.description, "|", len(embed.fields), "|", embed.fields[0]["value"].startswith("Provider: openai"))',
    ].join('\n');
    const out = await run(driver, { pythonPath: standIns });
    const [token, answer, models] = out.split('\n');
    assert.equal(token, 'your-bot-token');
    assert.equal(answer, `🤖 ${ANSWER} Hello from Discord`);
    assert.match(models ?? '', /^Available Models \| Showing 10 of \d+ models \| 10 \| True$/);
    assert.equal(chatsSince(0).at(-1)?.max_tokens, 300);
  });

  test('Slack Integration: a mention and /ask-ai answer through the proxy (imported as a module: Socket Mode starts only as __main__)', async () => {
    const driver = [
      `namespace = {"__name__": "usage_guide_slack"}`,
      `exec(${JSON.stringify(guide(examples, 'Slack Integration'))}, namespace)`,
      'app, said, answered = namespace["app"], [], []',
      'app.events["app_mention"]({"text": "<@U123> Hello from Slack", "user": "U123"}, said.append)',
      'app.events["app_mention"]({"text": "<@U123>", "user": "U123"}, said.append)',
      'app.commands["/ask-ai"](lambda: answered.append("ack"), answered.append, {"text": "Hi from a slash command"})',
      'print(json.dumps([said, answered]))',
    ].join('\n');
    const out = await run(driver, { pythonPath: standIns });
    assert.deepEqual(JSON.parse(out), [
      [`<@U123> ${ANSWER} Hello from Slack`, 'Hello! Ask me anything.'],
      ['ack', `${ANSWER} Hi from a slash command`],
    ]);
  });
});

/** Which test runs each example of the guide (top-level ones by heading; Best Practices ones as `Section / Item`). */
const RUN_BY: Readonly<Record<string, string>> = {
  '1. Basic Chat Completion': 'usage-guide-chat',
  '2. Model Discovery': 'usage-guide-chat',
  '3. Streaming Response': 'usage-guide-chat',
  Authentication: 'usage-guide-chat',
  'Simple Chat': 'usage-guide-chat',
  'Multi-turn Conversation': 'usage-guide-chat',
  'Function Calling': 'usage-guide-chat',
  'List Available Models': 'usage-guide-chat',
  'Search Models': 'usage-guide-chat',
  'Get Model Details': 'usage-guide-chat',
  'Context Condensation': 'usage-guide-condense',
  'Asynchronous Processing': 'usage-guide-chat',
  'Batch Processing': 'usage-guide-chat',
  'Error Handling and Retry': 'usage-guide-chat',
  'Web Application Integration': 'usage-guide-chat',
  'Discord Bot Integration': 'usage-guide-practices',
  'Slack Integration': 'usage-guide-practices',
  'Content Generation': 'usage-guide-chat',
  'Code Review Assistant': 'usage-guide-chat',
  'Data Analysis Assistant': 'usage-guide-chat',
  'Customer Support Chatbot': 'usage-guide-condense',
  'Authentication Errors': 'usage-guide-chat',
  'Rate Limiting': 'usage-guide-chat',
  'Timeout Issues': 'usage-guide-chat',
  'Model Not Found': 'usage-guide-chat',
  'Debug Mode': 'usage-guide-chat',
  'Health Checks': 'usage-guide-chat',
  'API Usage / Error Handling': 'usage-guide-practices',
  'API Usage / Rate Limiting': 'usage-guide-practices',
  'API Usage / Request Optimization': 'usage-guide-practices',
  'Performance Optimization / Caching Strategy': 'usage-guide-practices',
  'Performance Optimization / Batch Processing': 'usage-guide-practices',
  'Performance Optimization / Connection Reuse': 'usage-guide-practices',
  'Cost Optimization / Model Selection': 'usage-guide-practices',
  'Cost Optimization / Token Optimization': 'usage-guide-practices',
};

/** Whether a test file runs the troubleshooting snippets listed in READER_SNIPPETS. */
function usesReaderSnippets(source: string): boolean {
  return source.includes('READER_SNIPPETS');
}

test('every Python example of USAGE.md is run by a test that names it', () => {
  const all = [...examples.keys(), ...listed.keys()];
  assert.deepEqual(all.filter((heading) => !Object.hasOwn(RUN_BY, heading)), [], 'examples no test runs');
  assert.deepEqual(Object.keys(RUN_BY).filter((heading) => !all.includes(heading)), [], 'examples the guide no longer has');
  // The test named runs it: its source asks for the example by that heading (or, here, its item);
  // the troubleshooting snippets that need the reader's variables are listed in the support module.
  const support = readFileSync(fileURLToPath(new URL('../../../test/support/usage-guide.ts', import.meta.url)), 'utf8');
  for (const [heading, file] of Object.entries(RUN_BY)) {
    const path = fileURLToPath(new URL(`../../../test/integration/${file}.test.ts`, import.meta.url));
    assert.ok(existsSync(path), path);
    const own = readFileSync(path, 'utf8');
    const source = usesReaderSnippets(own) ? own + support : own;
    const name = heading.includes(' / ') ? heading : heading.replace(/^\d\. /, '');
    assert.ok(source.includes(`'${name}'`) || source.includes(`'${heading}'`) || source.includes(`"${heading}"`), `${file} runs "${heading}"`);
  }
});
