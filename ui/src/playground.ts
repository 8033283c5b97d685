// Playground: a streamed chat with any routable model, through POST /v1/chat/completions as any
// client would call it. The answer is appended as text (never parsed as HTML), chunk by chunk.
// The transcript and the request are built from one list of turns, so what is shown is what is sent:
// a turn that got no answer stays on screen marked failed, left out of the conversation, with Retry.
import { api, ApiError, request } from './api.js';
import { button, checkbox, field, fmtInt, fmtMs, h, input, replace } from './dom.js';

interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One bubble of the transcript; a failed one is shown but never sent. */
interface Turn {
  message: ChatMessage;
  element: HTMLElement;
  failed: boolean;
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
  const turns: Turn[] = [];
  let controller: AbortController | undefined;

  const form = h(
    'form',
    { on: { submit: (event) => (event.preventDefault(), submit()) } },
    h('div', { class: 'playground-grid' }, field('Model', model), field('Temperature', temperature), field('Max tokens', maxTokens), checkbox('Stream', stream)),
    models,
    field('System prompt', system),
    field('Message', prompt),
    h('div', { class: 'toolbar' }, send, stop, button('Clear conversation', clearConversation, 'quiet')),
    error,
  );
  replace(root, h('h1', {}, 'Playground'), h('section', { class: 'panel' }, transcript, form, stats));
  prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  /** A bubble at the end of the transcript, and its text element. */
  function bubble(role: ChatMessage['role'], text: string): { element: HTMLElement; body: HTMLElement } {
    const body = h('div', { class: 'text' }, text);
    const element = h('div', { class: `message ${role}`, attrs: { 'data-role': role } }, h('div', { class: 'role' }, role), body);
    transcript.appendChild(element);
    return { element, body };
  }

  function addTurn(role: ChatMessage['role'], content: string, element: HTMLElement): Turn {
    const turn: Turn = { message: { role, content }, element, failed: false };
    turns.push(turn);
    return turn;
  }

  /** A question that got no answer: kept in view, marked, left out of what is sent next, and offered again. */
  function markFailed(turn: Turn, why: string): void {
    turn.failed = true;
    turn.element.classList.add('failed');
    turn.element.setAttribute('data-failed', '');
    const retry = button(
      'Retry',
      () => {
        if (controller !== undefined) return;
        turns.splice(turns.indexOf(turn), 1);
        turn.element.remove();
        void ask(turn.message.content);
      },
      'quiet',
    );
    turn.element.appendChild(h('p', { class: 'note' }, `${why}: not part of the conversation. `, retry));
  }

  /** Empties both the transcript and the conversation; a request in flight is stopped and its answer dropped. */
  function clearConversation(): void {
    controller?.abort();
    turns.splice(0);
    replace(transcript);
    stats.textContent = '';
    error.textContent = '';
  }

  function submit(): void {
    const text = prompt.value.trim();
    if (text === '' || model.value.trim() === '' || controller !== undefined) return;
    prompt.value = '';
    void ask(text);
  }

  async function ask(text: string): Promise<void> {
    error.textContent = '';
    stats.textContent = '';
    const asked = addTurn('user', text, bubble('user', text).element);
    const { element: outputElement, body: output } = bubble('assistant', '');
    const messages = [...(system.value.trim() === '' ? [] : [{ role: 'system' as const, content: system.value.trim() }]), ...turns.filter((turn) => !turn.failed).map((turn) => turn.message)];
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
      // Cleared meanwhile: the answer belongs to no conversation.
      if (!turns.includes(asked)) return;
      addTurn('assistant', answer, outputElement);
      const parts = [
        `Total ${fmtMs(performance.now() - started)}`,
        firstToken === undefined ? '' : `first token ${fmtMs(firstToken - started)}`,
        usage === undefined ? '' : `${fmtInt(usage.prompt_tokens ?? 0)} prompt + ${fmtInt(usage.completion_tokens ?? 0)} completion tokens`,
        route === null ? '' : `via ${route}`,
      ];
      stats.textContent = parts.filter((part) => part !== '').join(' · ');
    } catch (caught) {
      const aborted = caught instanceof DOMException && caught.name === 'AbortError';
      if (!turns.includes(asked)) return;
      // A partial answer is kept, and sent next, as shown; no answer at all leaves the question out.
      if (answer !== '') addTurn('assistant', answer, outputElement);
      else {
        outputElement.remove();
        markFailed(asked, aborted ? 'Stopped' : 'Failed');
      }
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
      // Not into a field being edited: a user (or a test) who cleared it to type a name would get the default's text before theirs.
      if (model.value === '' && document.activeElement !== model && list.data[0] !== undefined) model.value = list.data[0].id;
    })
    .catch(() => undefined);
  return () => controller?.abort();
}
