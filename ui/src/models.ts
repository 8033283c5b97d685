// Model catalog: GET /api/models/search with its filters, sorted and paged by the server, so a
// catalog of thousands of models renders one page at a time.
import { api, query } from './api.js';
import { button, checkbox, field, fmtInt, fmtPrice, h, input, replace, select, table } from './dom.js';
import type { Model, ModelPage, ProviderHealth } from './types.js';

const PAGE = 50;
const CAPABILITIES = ['chat', 'streaming', 'vision', 'function_calling', 'json_mode', 'structured_outputs', 'reasoning', 'embeddings', 'audio', 'prompt_caching', 'completions'];
const SORTS = [
  ['id', 'Id'],
  ['provider', 'Provider'],
  ['-context_length', 'Largest context'],
  ['input_cost', 'Cheapest input'],
  ['output_cost', 'Cheapest output'],
  ['cost', 'Cheapest overall'],
] as const;

export function renderModels(root: HTMLElement): void {
  const q = input({ type: 'search', placeholder: 'gpt, claude, gemini…', autocomplete: 'off' });
  const provider = select([['', 'Any']]);
  const capability = select([['', 'Any'], ...CAPABILITIES.map((name) => [name, name.replaceAll('_', ' ')] as const)]);
  const chatOnly = input();
  const minContext = input({ type: 'number', min: 0, step: 1000, inputmode: 'numeric' });
  const maxInput = input({ type: 'number', min: 0, step: 'any', inputmode: 'decimal' });
  const maxOutput = input({ type: 'number', min: 0, step: 'any', inputmode: 'decimal' });
  const hideDeprecated = input();
  const sort = select(SORTS, 'id');
  const status = h('p', { class: 'muted', attrs: { 'aria-live': 'polite' } });
  const results = h('div');
  const previous = button('Previous', () => void load(offset - PAGE), 'quiet');
  const next = button('Next', () => void load(offset + PAGE), 'quiet');
  const pageInfo = h('span', { class: 'muted' });
  const form = h(
    'form',
    { class: 'inline', attrs: { role: 'search' }, on: { submit: (event) => (event.preventDefault(), void load(0)) } },
    field('Search', q),
    field('Provider', provider),
    field('Capability', capability),
    field('Min context', minContext),
    field('Max input $/1K', maxInput),
    field('Max output $/1K', maxOutput),
    field('Sort', sort),
    checkbox('Chat models only', chatOnly),
    checkbox('Hide deprecated', hideDeprecated),
  );
  replace(root, h('h1', {}, 'Models'), h('section', { class: 'panel' }, form, status, results, h('div', { class: 'pager' }, previous, next, pageInfo)));

  let offset = 0;
  let sequence = 0;
  async function load(from: number): Promise<void> {
    const mine = ++sequence;
    status.textContent = 'Searching…';
    try {
      const page = await api<ModelPage>(
        `/api/models/search${query({
          q: q.value.trim(),
          provider: provider.value,
          capability: capability.value,
          supports_chat: chatOnly.checked ? 'true' : '',
          min_context: minContext.value,
          max_input_cost: maxInput.value,
          max_output_cost: maxOutput.value,
          deprecated: hideDeprecated.checked ? 'false' : '',
          sort: sort.value,
          limit: PAGE,
          offset: Math.max(0, from),
        })}`,
      );
      // A slower, older search must not overwrite a newer one's answer.
      if (mine !== sequence) return;
      offset = page.offset;
      replace(
        results,
        table<Model>(
          `Models matching the filters (${fmtInt(page.count)})`,
          [
            { label: 'Model', value: (model) => h('span', {}, h('span', { class: 'mono' }, model.id), model.name !== model.id ? h('div', { class: 'muted' }, model.name) : null) },
            { label: 'Provider', value: (model) => model.provider },
            { label: 'Context', numeric: true, value: (model) => fmtInt(model.context_length) },
            { label: 'Max output', numeric: true, value: (model) => fmtInt(model.max_output_tokens) },
            { label: 'Input $/1K', numeric: true, value: (model) => fmtPrice(model.input_cost) },
            { label: 'Output $/1K', numeric: true, value: (model) => fmtPrice(model.output_cost) },
            { label: 'Capabilities', value: (model) => model.capabilities.join(', ') + (model.deprecated ? ' (deprecated)' : '') },
            {
              label: 'Try',
              value: (model) =>
                model.supports_chat === false ? '' : h('a', { attrs: { href: `#/playground?${new URLSearchParams({ model: model.id }).toString()}`, 'aria-label': `Chat with ${model.id}` } }, 'Chat'),
            },
          ],
          page.models,
          'No model matches.',
        ),
      );
      const last = Math.min(page.count, page.offset + page.models.length);
      pageInfo.textContent = page.count === 0 ? '' : `${fmtInt(page.offset + 1)}–${fmtInt(last)} of ${fmtInt(page.count)}`;
      previous.disabled = page.offset === 0;
      next.disabled = last >= page.count;
      status.textContent = `${fmtInt(page.count)} models`;
    } catch (error) {
      if (mine === sequence) status.textContent = `Search failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  const soon = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void load(0), 200);
  };
  q.addEventListener('input', soon);
  for (const control of [provider, capability, sort, chatOnly, hideDeprecated]) control.addEventListener('change', () => void load(0));
  for (const control of [minContext, maxInput, maxOutput]) control.addEventListener('input', soon);

  // Providers for the filter: the configured ones.
  void api<Record<string, ProviderHealth>>('/health/providers')
    .then((health) => {
      for (const [name, item] of Object.entries(health)) if (item.configured) provider.appendChild(new Option(name, name));
    })
    .catch(() => undefined);
  void load(0);
}
