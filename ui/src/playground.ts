// Playground: a streamed chat with any routable model, through POST /v1/chat/completions as any
// client would call it. The answer is appended as text (never parsed as HTML), chunk by chunk.
import { api, ApiError, request } from './api.js';
import { button, checkbox, field, fmtInt, fmtMs, h, input, replace } from './dom.js';

interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

interface ChunkUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

interface StreamChunk {
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: ChunkUsage | null;
  error?: { message?: string };
}

interface Completion {
  choices?: Array<{ message?: { content?: string | null } }>;
  usage?: ChunkUsage;
}

/** Splits an SSE byte stream into the JSON payloads of its `data:` lines. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data !== '') yield data;
    }
  }
}

export function renderPlayground(root: HTMLElement, params: URLSearchParams): () => void {
  const model = input({ list: 'playground-models', autocomplete: 'off', required: true, value: params.get('model') ?? '' });
  const models = h('datalist', { id: 'playground-models' });
  const system = h('textarea', { attrs: { rows: 2, placeholder: 'Optional system prompt' } });
  const prompt = h('textarea', { attrs: { rows: 4, required: true, placeholder: 'Ask something (Ctrl+Enter sends)' } });
  const temperature = input({ type: 'number', min: 0, max: 2, step: 0.1, inputmode: 'decimal' });
  const maxTokens = input({ type: 'number', min: 1, step: 1, inputmode: 'numeric' });
  const stream = input();
  stream.checked = true;
  const transcript = h('div', { class: 'transcript', attrs: { 'aria-live': 'polite', 'data-transcript': '' } });
  const stats = h('p', { class: 'muted', attrs: { 'data-stats': '' } });
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  const send = h('button', { attrs: { type: 'submit' } }, 'Send');
  const stop = button('Stop', () => controller?.abort(), 'quiet');
  stop.disabled = true;
  const history: ChatMessage[] = [];
  let controller: AbortController | undefined;

  const form = h(
    'form',
    { on: { submit: (event) => (event.preventDefault(), void run()) } },
    h('div', { class: 'playground-grid' }, field('Model', model), field('Temperature', temperature), field('Max tokens', maxTokens), checkbox('Stream', stream)),
    models,
    field('System prompt', system),
    field('Message', prompt),
    h('div', { class: 'toolbar' }, send, stop, button('Clear conversation', () => (history.splice(0), replace(transcript), (stats.textContent = '')), 'quiet')),
    error,
  );
  replace(root, h('h1', {}, 'Playground'), h('section', { class: 'panel' }, transcript, form, stats));
  prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function bubble(role: ChatMessage['role'], text: string): HTMLElement {
    const body = h('div', { class: 'text' }, text);
    transcript.appendChild(h('div', { class: `message ${role}`, attrs: { 'data-role': role } }, h('div', { class: 'role' }, role), body));
    return body;
  }

  async function run(): Promise<void> {
    const text = prompt.value.trim();
    if (text === '' || model.value.trim() === '') return;
    error.textContent = '';
    stats.textContent = '';
    history.push({ role: 'user', content: text });
    bubble('user', text);
    prompt.value = '';
    const output = bubble('assistant', '');
    const messages = [...(system.value.trim() === '' ? [] : [{ role: 'system' as const, content: system.value.trim() }]), ...history];
    const streaming = stream.checked;
    const body: Record<string, unknown> = { model: model.value.trim(), messages, stream: streaming };
    if (streaming) body.stream_options = { include_usage: true };
    if (temperature.value !== '') body.temperature = Number(temperature.value);
    if (maxTokens.value !== '') body.max_tokens = Number(maxTokens.value);
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    const started = performance.now();
    let firstToken: number | undefined;
    let usage: ChunkUsage | undefined;
    let answer = '';
    try {
      const response = await request('/v1/chat/completions', { method: 'POST', body, signal: controller.signal });
      const route = response.headers.get('x-llm-proxy-route');
      if (streaming && response.body !== null) {
        for await (const data of sseData(response.body)) {
          if (data === '[DONE]') break;
          const chunk = JSON.parse(data) as StreamChunk;
          if (chunk.error !== undefined) throw new Error(chunk.error.message ?? 'The stream failed.');
          const delta = chunk.choices?.[0]?.delta?.content;
          if (typeof delta === 'string' && delta !== '') {
            firstToken ??= performance.now();
            answer += delta;
            // A text node's data: the answer is never parsed as markup.
            output.textContent = answer;
          }
          if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage;
        }
      } else {
        const completion = (await response.json()) as Completion;
        answer = completion.choices?.[0]?.message?.content ?? '';
        output.textContent = answer;
        usage = completion.usage;
      }
      history.push({ role: 'assistant', content: answer });
      const parts = [
        `Total ${fmtMs(performance.now() - started)}`,
        firstToken === undefined ? '' : `first token ${fmtMs(firstToken - started)}`,
        usage === undefined ? '' : `${fmtInt(usage.prompt_tokens ?? 0)} prompt + ${fmtInt(usage.completion_tokens ?? 0)} completion tokens`,
        route === null ? '' : `via ${route}`,
      ];
      stats.textContent = parts.filter((part) => part !== '').join(' · ');
    } catch (caught) {
      const aborted = caught instanceof DOMException && caught.name === 'AbortError';
      if (answer !== '') history.push({ role: 'assistant', content: answer });
      else history.pop();
      error.textContent = aborted ? 'Stopped.' : caught instanceof ApiError || caught instanceof Error ? caught.message : String(caught);
    } finally {
      send.disabled = false;
      stop.disabled = true;
      controller = undefined;
    }
  }

  void api<{ data: Array<{ id: string }> }>('/v1/models')
    .then((list) => {
      for (const item of list.data) models.appendChild(h('option', { attrs: { value: item.id } }));
      if (model.value === '' && list.data[0] !== undefined) model.value = list.data[0].id;
    })
    .catch(() => undefined);
  return () => controller?.abort();
}
