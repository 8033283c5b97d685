// Virtual keys: create (the new key shown once, here, and never again), edit limits, revoke.
import { api, ApiError } from './api.js';
import { button, field, fmtInt, fmtTime, fmtUsd, h, input, replace, select, statusBadge, table } from './dom.js';
import type { VirtualKey } from './types.js';

const PERIODS = [
  ['', 'Never resets'],
  ['daily', 'Daily'],
  ['weekly', 'Weekly'],
  ['monthly', 'Monthly'],
] as const;

function numberOrNull(value: string): number | null {
  return value.trim() === '' ? null : Number(value);
}

/** Model names, one a line: a name may hold a comma (`vendor/model,v2`) but never a line break. */
function modelList(value: string): string[] {
  return value.split(/\r?\n/).map((model) => model.trim()).filter((model) => model !== '');
}

/**
 * The body of a POST or PATCH from the form. On create, empty fields are left out; on edit, only
 * the fields changed since the form was filled (`shown`), so an untouched expiry, which the input
 * shows to the second, is not sent back without its milliseconds.
 */
function settings(controls: KeyForm, shown: Readonly<Record<keyof KeyForm, string>> | null): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const set = (control: keyof KeyForm, name: string, value: unknown) => {
    if (shown === null ? value !== null && value !== '' : controls[control].value !== shown[control]) body[name] = value;
  };
  set('name', 'name', controls.name.value.trim() === '' ? null : controls.name.value.trim());
  const models = modelList(controls.models.value);
  set('models', 'models', models.length === 0 ? null : models);
  set('rpm', 'rpm_limit', numberOrNull(controls.rpm.value));
  set('tpm', 'tpm_limit', numberOrNull(controls.tpm.value));
  set('budget', 'max_budget', numberOrNull(controls.budget.value));
  set('period', 'budget_period', controls.period.value === '' ? null : controls.period.value);
  set('expires', 'expires_at', controls.expires.value === '' ? null : new Date(controls.expires.value).toISOString());
  return body;
}

interface KeyForm {
  name: HTMLInputElement;
  models: HTMLTextAreaElement;
  rpm: HTMLInputElement;
  tpm: HTMLInputElement;
  budget: HTMLInputElement;
  period: HTMLSelectElement;
  expires: HTMLInputElement;
}

/** `YYYY-MM-DDTHH:MM:SS` in local time, what a datetime-local input with `step="1"` takes. */
function localInput(iso: string | null): string {
  if (iso === null) return '';
  const date = new Date(iso);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function renderKeys(root: HTMLElement): void {
  const controls: KeyForm = {
    name: input({ maxlength: 256, autocomplete: 'off' }),
    models: h('textarea', { attrs: { rows: 2, placeholder: 'all models', autocomplete: 'off', spellcheck: 'false' } }),
    rpm: input({ type: 'number', min: 0, step: 1, inputmode: 'numeric' }),
    tpm: input({ type: 'number', min: 0, step: 1, inputmode: 'numeric' }),
    budget: input({ type: 'number', min: 0, step: 'any', inputmode: 'decimal' }),
    period: select(PERIODS, ''),
    expires: input({ type: 'datetime-local', step: 1 }),
  };
  let editing: VirtualKey | null = null;
  /** The values the form showed when an edit began: what the user did not change is not sent. */
  let shown: Record<keyof KeyForm, string> | null = null;
  const heading = h('h2', {}, 'Create a key');
  const submit = h('button', { attrs: { type: 'submit' } }, 'Create key');
  const cancel = button('Cancel edit', () => edit(null), 'quiet');
  const formError = h('p', { class: 'error', attrs: { role: 'alert' } });
  const created = h('div', { attrs: { 'aria-live': 'polite' } });
  const form = h(
    'form',
    { class: 'inline', on: { submit: (event) => (event.preventDefault(), void save()) } },
    field('Name', controls.name),
    field('Models (one per line)', controls.models),
    field('Requests / min', controls.rpm),
    field('Tokens / min', controls.tpm),
    field('Budget (USD)', controls.budget),
    field('Budget period', controls.period),
    field('Expires', controls.expires),
    h('div', { class: 'actions' }, submit, cancel),
  );
  const list = h('div');
  const status = h('p', { class: 'muted', attrs: { 'aria-live': 'polite' } });
  replace(root, h('h1', {}, 'Keys'), created, h('section', { class: 'panel' }, heading, form, formError), h('section', { class: 'panel' }, h('h2', {}, 'Virtual keys'), status, list));

  function edit(key: VirtualKey | null): void {
    editing = key;
    heading.textContent = key === null ? 'Create a key' : `Edit ${key.name ?? key.id}`;
    submit.textContent = key === null ? 'Create key' : 'Save changes';
    cancel.hidden = key === null;
    controls.name.value = key?.name ?? '';
    controls.models.value = key?.models?.join('\n') ?? '';
    controls.rpm.value = key?.rpm_limit?.toString() ?? '';
    controls.tpm.value = key?.tpm_limit?.toString() ?? '';
    controls.budget.value = key?.max_budget?.toString() ?? '';
    controls.period.value = key?.budget_period ?? '';
    controls.expires.value = localInput(key?.expires_at ?? null);
    shown = key === null ? null : { name: controls.name.value, models: controls.models.value, rpm: controls.rpm.value, tpm: controls.tpm.value, budget: controls.budget.value, period: controls.period.value, expires: controls.expires.value };
    formError.textContent = '';
    if (key !== null) controls.name.focus();
  }
  edit(null);

  /** The secret, once: a read-only field to copy from, until dismissed. */
  function showSecret(key: VirtualKey): void {
    const secret = input({ readonly: true, value: key.key ?? '', 'aria-label': 'New key', 'data-new-key': '' });
    const copy = button('Copy', () => {
      void navigator.clipboard?.writeText(secret.value).then(() => (copy.textContent = 'Copied'));
      secret.select();
    });
    replace(
      created,
      h(
        'section',
        { class: 'panel notice' },
        h('h2', {}, `Key created: ${key.name ?? key.id}`),
        h('p', {}, 'Copy it now. It is shown only this once: the gateway keeps a hash, not the key.'),
        h('div', { class: 'secret' }, secret, copy, button('Done', () => replace(created), 'quiet')),
      ),
    );
    secret.focus();
    secret.select();
  }

  async function save(): Promise<void> {
    formError.textContent = '';
    submit.disabled = true;
    try {
      if (editing === null) {
        showSecret(await api<VirtualKey>('/admin/keys', { method: 'POST', body: settings(controls, null) }));
      } else {
        await api<VirtualKey>(`/admin/keys/${encodeURIComponent(editing.id)}`, { method: 'PATCH', body: settings(controls, shown) });
        status.textContent = 'Saved.';
      }
      edit(null);
      await load();
    } catch (error) {
      formError.textContent = error instanceof ApiError || error instanceof Error ? error.message : String(error);
    } finally {
      submit.disabled = false;
    }
  }

  async function revoke(key: VirtualKey): Promise<void> {
    try {
      await api<VirtualKey>(`/admin/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
      status.textContent = `Revoked ${key.name ?? key.id}.`;
      await load();
    } catch (error) {
      status.textContent = `Could not revoke: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  /** Revoking asks twice, in place (no modal dialog): the button turns into a confirmation. */
  function revokeButton(key: VirtualKey): HTMLElement {
    const cell = h('div', { class: 'actions' });
    const ask = () =>
      replace(
        cell,
        button('Confirm revoke', () => void revoke(key), 'danger'),
        button('Keep', () => {
          initial();
        }, 'quiet'),
      );
    const initial = () => replace(cell, button('Edit', () => edit(key), 'quiet'), key.state === 'revoked' ? null : button('Revoke', ask, 'quiet'));
    initial();
    return cell;
  }

  async function load(): Promise<void> {
    try {
      const { keys } = await api<{ keys: VirtualKey[] }>('/admin/keys');
      keys.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
      replace(
        list,
        table<VirtualKey>(
          `Virtual keys (${keys.length})`,
          [
            { label: 'Name', value: (key) => key.name ?? '—' },
            { label: 'Key', value: (key) => h('span', { class: 'mono' }, key.masked_key) },
            { label: 'State', value: (key) => statusBadge(key.state) },
            { label: 'Models', value: (key) => key.models?.join(', ') ?? 'all' },
            { label: 'RPM', numeric: true, value: (key) => fmtInt(key.rpm_limit) },
            { label: 'TPM', numeric: true, value: (key) => fmtInt(key.tpm_limit) },
            { label: 'Budget', numeric: true, value: (key) => (key.max_budget === null ? '—' : `${fmtUsd(key.max_budget)}${key.budget_period === null ? '' : ` / ${key.budget_period}`}`) },
            { label: 'Spend', numeric: true, value: (key) => fmtUsd(key.spend) },
            { label: 'Created', value: (key) => fmtTime(key.created_at) },
            { label: 'Expires', value: (key) => fmtTime(key.expires_at) },
            { label: 'Actions', value: revokeButton },
          ],
          keys,
          'No virtual key yet.',
        ),
      );
    } catch (error) {
      status.textContent = `Could not load keys: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  void load();
}
