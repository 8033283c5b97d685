// DOM building for the dashboard. Text only ever enters the page as text nodes (textContent):
// nothing here parses HTML, so a model answer or a key name holding `<script>` stays visible text.

export type Child = Node | string | number | null | undefined | false;

interface Props {
  class?: string;
  id?: string;
  /** Plain attributes; event handlers go through `on`, never through `on…` attributes. */
  attrs?: Record<string, string | number | boolean | undefined>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class !== undefined) element.className = props.class;
  if (props.id !== undefined) element.id = props.id;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === undefined || value === false) continue;
    if (/^on/i.test(name) || name === 'style' || name === 'srcdoc') throw new Error(`attribute ${name} is not allowed`);
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [type, handler] of Object.entries(props.on ?? {})) element.addEventListener(type, handler as EventListener);
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

export function clear(node: Node): void {
  while (node.firstChild !== null) node.removeChild(node.firstChild);
}

export function replace(node: Node, ...children: Child[]): void {
  clear(node);
  append(node, ...children);
}

let ids = 0;
/** A labelled form control: the label's `for` names the control, for screen readers and clicks. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, className = 'field'): HTMLElement {
  if (control.id === '') control.id = `f${++ids}`;
  return h('div', { class: className }, h('label', { attrs: { for: control.id } }, label), control);
}

export function checkbox(label: string, input: HTMLInputElement): HTMLElement {
  input.type = 'checkbox';
  if (input.id === '') input.id = `f${++ids}`;
  return h('div', { class: 'field check' }, input, h('label', { attrs: { for: input.id } }, label));
}

export function input(attrs: Record<string, string | number | boolean | undefined> = {}): HTMLInputElement {
  return h('input', { attrs });
}

export function select(options: ReadonlyArray<readonly [value: string, label: string]>, value = '', attrs: Record<string, string> = {}): HTMLSelectElement {
  const element = h('select', { attrs });
  for (const [optionValue, label] of options) element.appendChild(new Option(label, optionValue, false, optionValue === value));
  element.value = value;
  return element;
}

export function button(label: string, onClick: (event: MouseEvent) => void, className?: string, type: 'button' | 'submit' = 'button'): HTMLButtonElement {
  return h('button', { ...(className === undefined ? {} : { class: className }), attrs: { type }, on: { click: onClick } }, label);
}

export interface Column<T> {
  label: string;
  value: (row: T) => Child;
  numeric?: boolean;
}

/** A table with a caption (its accessible name); the caller keeps rows few (a page). */
export function table<T>(caption: string, columns: ReadonlyArray<Column<T>>, rows: readonly T[], empty = 'Nothing to show.'): HTMLElement {
  const head = h('tr', {}, ...columns.map((column) => h('th', { class: column.numeric === true ? 'num' : '', attrs: { scope: 'col' } }, column.label)));
  const body = h('tbody');
  for (const row of rows) {
    body.appendChild(h('tr', {}, ...columns.map((column) => h('td', { class: column.numeric === true ? 'num' : '' }, column.value(row)))));
  }
  if (rows.length === 0) body.appendChild(h('tr', {}, h('td', { class: 'muted', attrs: { colspan: columns.length } }, empty)));
  return h('div', { class: 'table-wrap' }, h('table', {}, h('caption', {}, caption), h('thead', {}, head), body));
}

export function card(label: string, value: string, testId: string): HTMLElement {
  return h('div', { class: 'card', attrs: { 'data-metric': testId } }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

const integerFormat = new Intl.NumberFormat('en-US');
export function fmtInt(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : integerFormat.format(Math.round(value));
}

export function fmtUsd(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value === 0) return '$0';
  const digits = Math.abs(value) >= 1 ? 2 : Math.abs(value) >= 0.01 ? 4 : 6;
  return `$${value.toFixed(digits)}`;
}

export function fmtMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function fmtPercent(value: number): string {
  return `${(value * 100).toFixed(value > 0 && value < 0.01 ? 2 : 1)}%`;
}

export function fmtTime(iso: string | null): string {
  if (iso === null) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Per 1K tokens, as the catalog gives prices. */
export function fmtPrice(value: number | null): string {
  return value === null ? '—' : `$${value < 0.001 ? value.toPrecision(2) : value.toFixed(4).replace(/0+$/, '').replace(/\.$/, '')}`;
}

export function statusBadge(status: string): HTMLElement {
  const tone = ['healthy', 'active', 'ok', 'ready', 'enabled'].includes(status) ? 'ok' : ['degraded', 'cooling', 'expired', 'over_budget', 'disabled', 'incomplete', 'client_disconnected'].includes(status) ? 'warn' : 'bad';
  return h('span', { class: `badge ${tone}` }, status.replaceAll('_', ' '));
}
